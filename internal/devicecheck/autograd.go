package devicecheck

import (
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// graphCase is a computation of its inputs (all trainable leaves).
type graphCase struct {
	name string
	in   []*tensor.Tensor
	f    func(in []*autograd.Var) *autograd.Var
}

// run builds the graph of c on dev from copies of its inputs, seeds the
// output's gradient with seed (twice when twice: the gradients add up) and
// returns the output value and the inputs' gradients.
func (c graphCase) run(t testing.TB, dev tensor.Device, seed *tensor.Tensor, twice bool) (*tensor.Tensor, []*tensor.Tensor) {
	t.Helper()
	vars := make([]*autograd.Var, len(c.in))
	for i, x := range c.in {
		vars[i] = autograd.Param(to(t, x.Clone(), dev))
	}
	var out *autograd.Var
	if err := tensor.Try(func() {
		out = c.f(vars)
		s := to(t, seed, dev)
		out.BackwardWith(s)
		if twice {
			out.BackwardWith(s)
		}
	}); err != nil {
		t.Fatalf("%s on %v: %v", c.name, dev, err)
	}
	grads := make([]*tensor.Tensor, len(vars))
	for i, v := range vars {
		grads[i] = v.Grad
	}
	return out.Value, grads
}

// Autograd runs autograd's ops and nn's modules forward and backward (a
// random upstream gradient) on dev and on the CPU from the same inputs,
// and compares the values and every input's gradient within rel; then the
// optimizers' updates (optimizers).
func Autograd(t testing.TB, dev tensor.Device, rel float64) {
	pos := tensor.AddScalar(tensor.Square(rnd(2, 6, 8)), 0.5)
	zeroRow := rnd(3, 4, 8)
	zeroRow.Slice(0, 2, 3).Fill(0) // a row whose norm L2Normalize clamps
	mha := func(seed uint64) *nn.MultiheadAttention {
		return nn.NewMultiheadAttention(nn.Random(tensor.NewRNG(seed)), "attn", 16, 2)
	}
	cases := []graphCase{
		{"Add, Sub, Mul, Div (broadcast)", []*tensor.Tensor{rnd(1, 4, 6, 8), pos}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Div(autograd.Mul(autograd.Sub(autograd.Add(v[0], v[1]), v[1]), v[0]), v[1])
		}},
		{"Neg, MulScalar, AddScalar, Exp, Log", []*tensor.Tensor{rnd(4, 6, 8)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Log(autograd.AddScalar(autograd.Exp(autograd.MulScalar(autograd.Neg(v[0]), 0.5)), 1))
		}},
		{"Sum, Mean (keepdim, broadcast)", []*tensor.Tensor{rnd(5, 4, 6, 8)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.Sum(v[0], []int{1}, true), autograd.Mean(v[0], []int{0, 2}, true))
		}},
		{"Reshape, Transpose, Expand, Permute", []*tensor.Tensor{rnd(6, 4, 6, 8)}, func(v []*autograd.Var) *autograd.Var {
			x := autograd.Transpose(autograd.Reshape(v[0], 24, 8), 0, 1)                          // [8, 24]
			x = autograd.Expand(autograd.Unsqueeze(x, 0), 3, 8, 24)                               // [3, 8, 24]
			return autograd.Squeeze(autograd.Reshape(autograd.Permute(x, 2, 0, 1), 1, 24, 24), 0) // [24, 24]
		}},
		{"Concat, Slice (q | k | v)", []*tensor.Tensor{rnd(7, 4, 6, 12)}, func(v []*autograd.Var) *autograd.Var {
			q, k, w := autograd.Slice(v[0], 2, 0, 4), autograd.Slice(v[0], 2, 4, 8), autograd.Slice(v[0], 2, 8, 12)
			return autograd.Concat([]*autograd.Var{autograd.Add(autograd.Mul(q, k), w), autograd.Slice(v[0], 2, 2, 6)}, 2)
		}},
		{"MatMul, MatMulT (batched, transposed)", []*tensor.Tensor{rnd(8, 4, 6, 8), rnd(9, 8, 5), rnd(10, 4, 7, 8)}, func(v []*autograd.Var) *autograd.Var {
			ab := autograd.MatMul(v[0], v[1])               // [4, 6, 5]
			ac := autograd.MatMulT(v[0], v[2], false, true) // [4, 6, 7]
			return autograd.MatMulT(ab, ac, true, false)    // [4, 5, 7]
		}},
		{"Linear", []*tensor.Tensor{rnd(11, 4, 6, 8), rnd(12, 5, 8), rnd(13, 5)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Linear(v[0], v[1], v[2])
		}},
		{"LayerNorm (affine, and none)", []*tensor.Tensor{rnd(14, 4, 6, 8), rnd(15, 8), rnd(16, 8)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.LayerNorm(v[0], v[1], v[2], 1e-5), autograd.LayerNorm(v[0], nil, nil, 1e-5))
		}},
		{"Softmax, LogSoftmax", []*tensor.Tensor{rnd(17, 4, 6, 8)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.Softmax(v[0], -1), autograd.LogSoftmax(v[0], -1))
		}},
		{"ScaledDotProductAttention", []*tensor.Tensor{rnd(18, 2, 3, 7, 8), rnd(19, 2, 3, 9, 8), rnd(20, 2, 3, 9, 5)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.ScaledDotProductAttention(v[0], v[1], v[2], false, nil)
		}},
		{"AttentionProbs (causal)", []*tensor.Tensor{rnd(21, 2, 3, 7, 8), rnd(22, 2, 3, 7, 8)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.AttentionProbs(v[0], v[1], true)
		}},
		{"CrossEntropy", []*tensor.Tensor{rnd(23, 5, 9)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.CrossEntropy(v[0], []int{0, 8, 3, 3, 5})
		}},
		{"L2Normalize (a clamped row)", []*tensor.Tensor{zeroRow}, func(v []*autograd.Var) *autograd.Var {
			return autograd.L2Normalize(v[0], -1, 1e-12)
		}},
		{"IndexSelect, GatherRows (repeats)", []*tensor.Tensor{rnd(24, 10, 6), rnd(25, 3, 5, 6)}, func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.IndexSelect(v[0], 0, []int{3, 3, 0}), autograd.GatherRows(v[1], []int{0, 4, 4}))
		}},
		{"nn.Sequential with ReLU", []*tensor.Tensor{rnd(26, 4, 8)}, func(v []*autograd.Var) *autograd.Var {
			p := nn.Random(tensor.NewRNG(27))
			s := (&nn.Sequential{}).Add("linear1", nn.NewLinear(p, "l1", 8, 6, true)).Add("relu", nn.ReLU{}).Add("linear2", nn.NewLinear(p, "l2", 6, 3, true))
			moveTo(t, s, v[0].Value.Device())
			return s.Forward(v[0])
		}},
		{"nn.MultiheadAttention (causal)", []*tensor.Tensor{rnd(28, 2, 7, 16)}, func(v []*autograd.Var) *autograd.Var {
			m := mha(29)
			moveTo(t, m, v[0].Value.Device())
			return m.Forward(v[0], true)
		}},
		{"nn.ResidualAttentionBlock (QuickGELU)", []*tensor.Tensor{rnd(30, 2, 7, 16)}, func(v []*autograd.Var) *autograd.Var {
			b := nn.NewResidualAttentionBlock(nn.Random(tensor.NewRNG(31)), "block", 16, 2, false)
			moveTo(t, b, v[0].Value.Device())
			return b.Forward(v[0])
		}},
	}
	for _, c := range cases {
		var shape []int
		if err := tensor.Try(func() { shape = c.f(constants(c.in)).Shape() }); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		seed := rnd(99, shape...)
		twice := c.name == "Linear" // leaf gradients accumulate over two passes
		want, wantG := c.run(t, tensor.CPU, seed, twice)
		got, gotG := c.run(t, dev, seed, twice)
		onDevice(t, c.name, got, dev)
		Compare(t, c.name, got, want, rel)
		for i := range wantG {
			Compare(t, label(c.name, " ∂in", i), gotG[i], wantG[i], rel)
		}
	}
	optimizers(t, dev, rel)
}

// constants wraps the inputs as frozen leaves (to learn the output shape).
func constants(in []*tensor.Tensor) []*autograd.Var {
	out := make([]*autograd.Var, len(in))
	for i, x := range in {
		out[i] = autograd.Constant(x)
	}
	return out
}

func moveTo(t testing.TB, m nn.Module, dev tensor.Device) {
	t.Helper()
	if err := nn.To(m, dev); err != nil {
		t.Fatal(err)
	}
}

// optimizers runs three steps of SGD (three settings), AdamW and
// ClipGradNorm on parameters on dev and on the CPU with the same gradients,
// and compares the parameters; the SGD state goes through State and
// LoadState on the way (host copies, as a checkpoint does).
func optimizers(t testing.TB, dev tensor.Device, rel float64) {
	type params struct{ p []nn.NamedParam }
	newParams := func(d tensor.Device) []nn.NamedParam {
		return []nn.NamedParam{
			{Name: "w", Var: autograd.Param(to(t, rnd(40, 33, 17), d))},
			{Name: "b", Var: autograd.Param(to(t, rnd(41, 17), d))},
		}
	}
	grads := [][]*tensor.Tensor{{rnd(42, 33, 17), rnd(43, 17)}, {rnd(44, 33, 17), rnd(45, 17)}, {rnd(46, 33, 17), rnd(47, 17)}}
	setGrads := func(ps []nn.NamedParam, step int, d tensor.Device) {
		for i, p := range ps {
			p.Var.Grad = to(t, grads[step][i].Clone(), d)
		}
	}
	compare := func(name string, got, want []nn.NamedParam) {
		for i := range want {
			onDevice(t, name, got[i].Var.Value, dev)
			Compare(t, label(name, " ", want[i].Name), got[i].Var.Value, want[i].Var.Value, rel)
		}
	}
	for _, s := range []struct {
		name                string
		momentum, damp, wd  float32
		nesterov, roundTrip bool
	}{
		{"SGD momentum, weight decay (3 steps, state round trip)", 0.9, 0, 5e-4, false, true},
		{"SGD Nesterov", 0.9, 0, 0.01, true, false},
		{"SGD dampening", 0.5, 0.3, 0, false, false},
		{"SGD plain", 0, 0, 0.1, false, false},
	} {
		run := func(d tensor.Device) []nn.NamedParam {
			ps := newParams(d)
			o := optim.NewSGD(ps, 0.1, s.momentum, s.wd)
			o.Dampening, o.Nesterov = s.damp, s.nesterov
			for step := range 3 {
				setGrads(ps, step, d)
				o.Step()
				if s.roundTrip && step == 1 {
					st := o.State()
					for k, b := range st.Momentum {
						st.Momentum[k] = to(t, b, tensor.CPU) // as a checkpoint stores it
					}
					o = optim.NewSGD(ps, 0.1, s.momentum, s.wd)
					if err := o.LoadState(st); err != nil {
						t.Fatal(err)
					}
				}
			}
			return ps
		}
		compare(s.name, run(dev), run(tensor.CPU))
	}
	adam := func(d tensor.Device) ([]nn.NamedParam, float64) {
		ps := newParams(d)
		o := optim.NewAdamW([]optim.Group{{Params: ps[:1], WeightDecay: 0.1}, {Params: ps[1:]}}, 1e-2)
		var norm float64
		for step := range 3 {
			setGrads(ps, step, d)
			norm = optim.ClipGradNorm(ps, 10)
			o.Step()
		}
		return ps, norm
	}
	got, gotNorm := adam(dev)
	want, wantNorm := adam(tensor.CPU)
	compare("AdamW with ClipGradNorm (3 steps)", got, want)
	CompareFloat(t, "ClipGradNorm's norm", gotNorm, wantNorm, rel)
}
