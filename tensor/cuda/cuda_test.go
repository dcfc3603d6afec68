//go:build cuda

package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// gpu skips the test with the reason the device cannot be used.
func gpu(t *testing.T) *Backend {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no GPU: %v", err)
	}
	b, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// On a machine without the libraries or a GPU, Open fails at once naming
// what is missing (this machine's path when no GPU is present).
func TestOpenNamesWhatIsMissing(t *testing.T) {
	err := Available()
	if err == nil {
		t.Skip("a GPU is present: Open succeeded")
	}
	var le *LoadError
	var de *DriverError
	switch {
	case errors.As(err, &le):
		if !strings.HasPrefix(err.Error(), "cuda: no "+le.Library) && le.Symbol == "" {
			t.Errorf("load error does not name the library: %v", err)
		}
	case errors.As(err, &de):
		if !strings.Contains(err.Error(), de.Call) {
			t.Errorf("driver error does not name the call: %v", err)
		}
	default:
		t.Errorf("want a *LoadError or *DriverError, got %T: %v", err, err)
	}
	t.Logf("Open: %v", err)
	if _, err2 := Open(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("a second Open must fail the same way: %v", err2)
	}
}

func rnd(seed uint64, shape ...int) *tensor.Tensor {
	r := tensor.NewRNG(seed)
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return t
}

func (b *Backend) to(t *testing.T, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	y, err := x.To(b.Device())
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func host(t *testing.T, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	y, err := x.To(tensor.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// close reports whether got is within atol + rtol·|want| of want everywhere.
func check(t *testing.T, name string, got, want *tensor.Tensor, atol, rtol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
		return
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	worst := 0.0
	for i := range g {
		d := math.Abs(float64(g[i] - w[i]))
		if d > atol+rtol*math.Abs(float64(w[i])) || (g[i] != g[i]) != (w[i] != w[i]) {
			t.Errorf("%s: element %d = %g, want %g", name, i, g[i], w[i])
			return
		}
		worst = max(worst, d)
	}
	t.Logf("%-28s max |Δ| %.2e", name, worst)
}

// TestOpsAgainstCPU is the op table: every tensor op with a device kernel,
// on the GPU and on the CPU, within the tolerance stated per row (float32:
// reductions and products accumulate in a different order).
func TestOpsAgainstCPU(t *testing.T) {
	b := gpu(t)
	a, c := rnd(1, 4, 7, 33), rnd(2, 1, 33)
	pos := tensor.AddScalar(tensor.Square(rnd(3, 4, 7, 33)), 0.1)
	x, y := rnd(4, 64, 96), rnd(5, 96, 80)
	batch, w := rnd(6, 8, 50, 64), rnd(7, 64, 64)
	lw, lb := rnd(8, 33), rnd(9, 33)
	ad, cd, posd := b.to(t, a), b.to(t, c), b.to(t, pos)
	xd, yd, bd, wd, lwd, lbd := b.to(t, x), b.to(t, y), b.to(t, batch), b.to(t, w), b.to(t, lw), b.to(t, lb)
	type row struct {
		name       string
		atol, rtol float64
		cpu, dev   *tensor.Tensor
	}
	ln, lm, lr := tensor.LayerNorm(a, lw, lb, 1e-5)
	lnd, lmd, lrd := tensor.LayerNorm(ad, lwd, lbd, 1e-5)
	rows := []row{
		{"Add (broadcast)", 0, 0, tensor.Add(a, c), tensor.Add(ad, cd)},
		{"Sub (broadcast)", 0, 0, tensor.Sub(c, a), tensor.Sub(cd, ad)},
		{"Mul (transposed)", 0, 0, tensor.Mul(a, a.Transpose(0, 1).Transpose(0, 1)), tensor.Mul(ad, ad.Transpose(0, 1).Transpose(0, 1))},
		{"Div", 0, 1e-6, tensor.Div(a, pos), tensor.Div(ad, posd)},
		{"Maximum", 0, 0, tensor.Maximum(a, c), tensor.Maximum(ad, cd)},
		{"AddScalar", 0, 0, tensor.AddScalar(a, 3), tensor.AddScalar(ad, 3)},
		{"MulScalar", 0, 0, tensor.MulScalar(a, -2), tensor.MulScalar(ad, -2)},
		{"Neg", 0, 0, tensor.Neg(a), tensor.Neg(ad)},
		{"Exp", 0, 2e-6, tensor.Exp(a), tensor.Exp(ad)},
		{"Log", 1e-6, 2e-6, tensor.Log(pos), tensor.Log(posd)},
		{"Sqrt", 0, 1e-6, tensor.Sqrt(pos), tensor.Sqrt(posd)},
		{"Tanh", 1e-6, 2e-6, tensor.Tanh(a), tensor.Tanh(ad)},
		{"Sigmoid", 1e-6, 2e-6, tensor.Sigmoid(a), tensor.Sigmoid(ad)},
		{"Relu", 0, 0, tensor.Relu(a), tensor.Relu(ad)},
		{"Square", 0, 0, tensor.Square(a), tensor.Square(ad)},
		{"Clone (transposed)", 0, 0, a.Transpose(1, 2).Clone(), ad.Transpose(1, 2).Clone()},
		{"Sum (last axis)", 1e-5, 1e-5, tensor.Sum(a, []int{-1}, false), tensor.Sum(ad, []int{-1}, false)},
		{"Sum (leading axes)", 1e-5, 1e-5, tensor.Sum(a, []int{0, 1}, true), tensor.Sum(ad, []int{0, 1}, true)},
		{"Mean (all)", 1e-6, 1e-5, tensor.Mean(a, nil, false), tensor.Mean(ad, nil, false)},
		{"Max (axis 1)", 0, 0, tensor.Max(a, []int{1}, false), tensor.Max(ad, []int{1}, false)},
		{"Softmax", 1e-7, 1e-5, tensor.Softmax(a, -1), tensor.Softmax(ad, -1)},
		{"LogSoftmax", 1e-5, 1e-5, tensor.LogSoftmax(a, -1), tensor.LogSoftmax(ad, -1)},
		{"LayerNorm y", 1e-5, 1e-5, ln, lnd},
		{"LayerNorm mean", 1e-6, 1e-5, lm, lmd},
		{"LayerNorm rstd", 0, 1e-5, lr, lrd},
		{"MatMul 64×96·96×80", 1e-4, 1e-4, tensor.MatMul(x, y), tensor.MatMul(xd, yd)},
		{"MatMulT batched ·Wᵀ", 1e-4, 1e-4, tensor.MatMulT(batch, w, false, true), tensor.MatMulT(bd, wd, false, true)},
		{"MatMul batched ·ᵀ", 1e-4, 1e-4, tensor.MatMul(batch, batch.Transpose(1, 2)), tensor.MatMul(bd, bd.Transpose(1, 2))},
	}
	for _, r := range rows {
		if r.dev.Device() != b.Device() {
			t.Errorf("%s: result on %v", r.name, r.dev.Device())
			continue
		}
		check(t, r.name, host(t, r.dev), r.cpu, r.atol, r.rtol)
	}
	var err error
	func() {
		defer tensor.Catch(&err)
		tensor.Add(ad, a)
	}()
	if err == nil || !strings.Contains(err.Error(), "different devices") {
		t.Errorf("mixed devices: %v", err)
	}
	t.Logf("memory: %+v", b.MemStats())
}

// TestModelKernelsAgainstAutograd checks the kernels the models need
// beyond the tensor ops (forward and backward) against autograd on the CPU,
// with random upstream gradients (each output element its own seed).
func TestModelKernelsAgainstAutograd(t *testing.T) {
	b := gpu(t)
	const atol, rtol = 1e-4, 1e-4
	grad := func(out *autograd.Var, seed *tensor.Tensor, in ...*autograd.Var) []*tensor.Tensor {
		return autograd.Grad([]*autograd.Var{out}, in, []*tensor.Tensor{seed})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// QuickGELU.
	x := rnd(10, 6, 77)
	dy := rnd(11, 6, 77)
	xv := autograd.Param(x)
	yv := autograd.QuickGELU(xv)
	yd, err := b.QuickGELU(b.to(t, x))
	must(err)
	check(t, "QuickGELU", host(t, yd), yv.Value, 1e-6, 1e-5)
	dxd, err := b.QuickGELUBackward(b.to(t, x), b.to(t, dy))
	must(err)
	check(t, "QuickGELU backward", host(t, dxd), grad(yv, dy, xv)[0], 1e-6, 1e-5)

	// Softmax and log-softmax backward.
	for _, log := range []bool{false, true} {
		xv := autograd.Param(x)
		sv := autograd.Softmax(xv, -1)
		if log {
			sv = autograd.LogSoftmax(xv, -1)
		}
		d, err := b.SoftmaxBackward(b.to(t, sv.Value), b.to(t, dy), log)
		must(err)
		check(t, "softmax backward (log "+map[bool]string{false: "no)", true: "yes)"}[log], host(t, d), grad(sv, dy, xv)[0], 1e-6, 1e-4)
	}

	// Layer norm backward.
	w, bias := rnd(12, 77), rnd(13, 77)
	xv, wv, bv := autograd.Param(x), autograd.Param(w), autograd.Param(bias)
	lv := autograd.LayerNorm(xv, wv, bv, 1e-5)
	_, mean, rstd := tensor.LayerNorm(x, w, bias, 1e-5)
	ldx, ldw, ldb, err := b.LayerNormBackward(b.to(t, dy), b.to(t, x), b.to(t, mean), b.to(t, rstd), b.to(t, w))
	must(err)
	g := grad(lv, dy, xv, wv, bv)
	check(t, "LayerNorm backward dx", host(t, ldx), g[0], atol, rtol)
	check(t, "LayerNorm backward dw", host(t, ldw), g[1], atol, rtol)
	check(t, "LayerNorm backward db", host(t, ldb), g[2], atol, rtol)

	// Attention with and without the causal mask: [BH, T, hd].
	for _, causal := range []bool{false, true} {
		q, k, v := rnd(20, 8, 77, 64), rnd(21, 8, 77, 64), rnd(22, 8, 77, 64)
		dout := rnd(23, 8, 77, 64)
		qv, kv, vv := autograd.Param(q), autograd.Param(k), autograd.Param(v)
		ov := autograd.ScaledDotProductAttention(qv, kv, vv, causal, nil)
		od, pd, err := b.Attention(b.to(t, q), b.to(t, k), b.to(t, v), causal)
		must(err)
		name := map[bool]string{false: "attention", true: "attention (causal)"}[causal]
		check(t, name, host(t, od), ov.Value, atol, rtol)
		dq, dk, dv, err := b.AttentionBackward(b.to(t, dout), pd, b.to(t, q), b.to(t, k), b.to(t, v))
		must(err)
		g := grad(ov, dout, qv, kv, vv)
		check(t, name+" dq", host(t, dq), g[0], atol, rtol)
		check(t, name+" dk", host(t, dk), g[1], atol, rtol)
		check(t, name+" dv", host(t, dv), g[2], atol, rtol)
	}

	// Embedding gather (repeated ids: the backward accumulates).
	table := rnd(30, 100, 32)
	ids := []int{5, 0, 99, 5, 17, 5}
	tv := autograd.Param(table)
	ev := autograd.GatherRows(tv, ids)
	ed, err := b.Embedding(b.to(t, table), ids)
	must(err)
	check(t, "embedding", host(t, ed), ev.Value, 0, 0)
	de := rnd(31, len(ids), 32)
	dtd, err := b.EmbeddingBackward(b.to(t, de), ids, 100)
	must(err)
	check(t, "embedding backward", host(t, dtd), grad(ev, de, tv)[0], 1e-6, 1e-6)

	// Cross-entropy (mean over rows).
	logits := rnd(40, 8, 1000)
	labels := []int{0, 999, 3, 500, 3, 7, 8, 250}
	lgv := autograd.Param(logits)
	cv := autograd.CrossEntropy(lgv, labels)
	rowsLoss, err := b.CrossEntropy(b.to(t, logits), labels)
	must(err)
	check(t, "cross-entropy (mean of rows)", host(t, tensor.Mean(rowsLoss, nil, false)), cv.Value, 1e-5, 1e-5)
	dl, err := b.CrossEntropyBackward(b.to(t, logits), labels, 1/float32(len(labels)))
	must(err)
	check(t, "cross-entropy backward", host(t, dl), grad(cv, tensor.Scalar(1), lgv)[0], 1e-7, 1e-4)

	// SGD with momentum and AdamW with weight decay, three steps each.
	p0, g0 := rnd(50, 1000), rnd(51, 1000)
	sp := autograd.Param(p0.Clone())
	sgd := optim.NewSGD([]nn.NamedParam{{Name: "p", Var: sp}}, 0.1, 0.9, 0.01)
	pd, gd, bufd := b.to(t, p0), b.to(t, g0), b.to(t, tensor.New(1000))
	for step := range 3 {
		sp.Grad = g0.Clone()
		sgd.Step()
		must(b.SGDStep(pd, gd, bufd, 0.1, 0.9, 0.01, step == 0))
	}
	check(t, "SGD (3 steps)", host(t, pd), sp.Value, 1e-6, 1e-5)
	ap := autograd.Param(p0.Clone())
	adam := optim.NewAdamW([]optim.Group{{Params: []nn.NamedParam{{Name: "p", Var: ap}}, WeightDecay: 0.1}}, 1e-3)
	pd, md, vd := b.to(t, p0), b.to(t, tensor.New(1000)), b.to(t, tensor.New(1000))
	for step := 1; step <= 3; step++ {
		ap.Grad = g0.Clone()
		adam.Step()
		must(b.AdamWStep(pd, gd, md, vd, adam.LR, adam.Beta1, adam.Beta2, adam.Eps, 0.1, step))
	}
	check(t, "AdamW (3 steps)", host(t, pd), ap.Value, 1e-6, 1e-5)
}
