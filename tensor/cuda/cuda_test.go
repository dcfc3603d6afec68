//go:build cuda

package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"

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
	t.Logf("device: %s", b.Name())
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
	g := rnd(12, 4, 7, 33)
	gd := b.to(t, g)
	ldx, ldw, ldb := tensor.LayerNormBackward(a, lw, lm, lr, g, true, true, true)
	ldxd, ldwd, ldbd := tensor.LayerNormBackward(ad, lwd, lmd, lrd, gd, true, true, true)
	logits, labels := rnd(13, 8, 1000), []int{0, 999, 3, 500, 3, 7, 8, 250}
	logitsd := b.to(t, logits)
	ia, iad := tensor.Zeros(4, 7, 33), b.to(t, tensor.Zeros(4, 7, 33))
	tensor.IndexAdd(ia, 1, []int{2, 2, 6}, a.Slice(1, 0, 3))
	tensor.IndexAdd(iad, 1, []int{2, 2, 6}, ad.Slice(1, 0, 3))
	// QuickGELUGrad where σ saturates and at ±Inf, where the CPU gives dy
	// and 0 (asm's TestQuickGELU, special values).
	far := tensor.FromSlice([]float32{float32(math.Inf(1)), float32(math.Inf(-1)), 60, -60, 200, -200, 0, 1e-3}, 8)
	farDy := tensor.FromSlice([]float32{1.5, 2, -0.5, 3, 1, -1, 0.25, 4}, 8)
	fard, farDyd := b.to(t, far), b.to(t, farDy)
	cp, cpd := a.Clone(), ad.Clone()
	cp.Slice(2, 3, 8).CopyFrom(c.Slice(1, 0, 5))
	tensor.Copy(cpd.Slice(2, 3, 8), cd.Slice(1, 0, 5))
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
		{"MaximumScalar", 0, 0, tensor.MaximumScalar(a, 0.1), tensor.MaximumScalar(ad, 0.1)},
		{"GreaterThan", 0, 0, tensor.GreaterThan(a, 0), tensor.GreaterThan(ad, 0)},
		{"QuickGELU", 1e-6, 1e-5, tensor.QuickGELU(a), tensor.QuickGELU(ad)},
		{"QuickGELUGrad", 1e-6, 1e-5, tensor.QuickGELUGrad(a, pos), tensor.QuickGELUGrad(ad, posd)},
		{"QuickGELUGrad (saturated, ±Inf)", 1e-6, 1e-5, tensor.QuickGELUGrad(far, farDy), tensor.QuickGELUGrad(fard, farDyd)},
		{"SumTo", 1e-5, 1e-5, tensor.SumTo(a, []int{7, 1}), tensor.SumTo(ad, []int{7, 1})},
		{"MaskedSoftmax (causal)", 1e-7, 1e-5, tensor.MaskedSoftmax(a, 0.125, true), tensor.MaskedSoftmax(ad, 0.125, true)},
		{"MaskedSoftmax", 1e-7, 1e-5, tensor.MaskedSoftmax(a, 0.125, false), tensor.MaskedSoftmax(ad, 0.125, false)},
		{"LayerNormBackward dx", 1e-4, 1e-4, ldx, ldxd},
		{"LayerNormBackward dw", 1e-4, 1e-4, ldw, ldwd},
		{"LayerNormBackward db", 1e-4, 1e-4, ldb, ldbd},
		{"Concat (strided, dim 2)", 0, 0, tensor.Concat([]*tensor.Tensor{a.Transpose(0, 1).Transpose(0, 1), a.Slice(2, 0, 3)}, 2), tensor.Concat([]*tensor.Tensor{ad.Transpose(0, 1).Transpose(0, 1), ad.Slice(2, 0, 3)}, 2)},
		{"IndexSelect (dim 1, repeats)", 0, 0, tensor.IndexSelect(a, 1, []int{6, 0, 6}), tensor.IndexSelect(ad, 1, []int{6, 0, 6})},
		{"IndexAdd (repeats)", 1e-6, 1e-6, ia, iad},
		{"Copy into a view", 0, 0, cp, cpd},
		{"CrossEntropyRows", 1e-5, 1e-5, tensor.CrossEntropyRows(logits, labels), tensor.CrossEntropyRows(logitsd, labels)},
		{"CrossEntropyGrad", 1e-7, 1e-4, tensor.CrossEntropyGrad(logits, labels, 0.125), tensor.CrossEntropyGrad(logitsd, labels, 0.125)},
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

// TestBackendOpsAgainstCPU checks the backend's own ops (outside
// tensor.Kernels: the softmax backward and the fused attention, forward and
// backward) against their definitions in tensor ops on the CPU
// (softmaxBackward, attention, attentionBackward: autograd's formulas), with
// random upstream gradients. autograd itself is checked on the GPU by
// bench/cuda's TestAutogradOnGPU.
func TestBackendOpsAgainstCPU(t *testing.T) {
	b := gpu(t)
	const atol, rtol = 1e-4, 1e-4
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	x, dy := rnd(10, 6, 77), rnd(11, 6, 77)
	for _, log := range []bool{false, true} {
		y := tensor.Softmax(x, -1)
		if log {
			y = tensor.LogSoftmax(x, -1)
		}
		d, err := b.SoftmaxBackward(b.to(t, y), b.to(t, dy), log)
		must(err)
		check(t, "softmax backward (log "+map[bool]string{false: "no)", true: "yes)"}[log], host(t, d), softmaxBackward(y, dy, log), 1e-6, 1e-4)
	}
	// Attention with and without the causal mask: [BH, T, hd].
	for _, causal := range []bool{false, true} {
		q, k, v := rnd(20, 8, 77, 64), rnd(21, 8, 77, 64), rnd(22, 8, 77, 64)
		dout := rnd(23, 8, 77, 64)
		o, p := attention(q, k, v, causal)
		od, pd, err := b.Attention(b.to(t, q), b.to(t, k), b.to(t, v), causal)
		must(err)
		name := map[bool]string{false: "attention", true: "attention (causal)"}[causal]
		check(t, name, host(t, od), o, atol, rtol)
		dq, dk, dv, err := b.AttentionBackward(b.to(t, dout), pd, b.to(t, q), b.to(t, k), b.to(t, v))
		must(err)
		wq, wk, wv := attentionBackward(dout, p, q, k, v)
		check(t, name+" dq", host(t, dq), wq, atol, rtol)
		check(t, name+" dk", host(t, dk), wk, atol, rtol)
		check(t, name+" dv", host(t, dv), wv, atol, rtol)
	}
}
