// Package nntest holds the device-against-CPU checks of nn's modules
// (Modules) and of nn/optim's updates (Optimizers). They run on the fake
// device of tensor/devicetest in nn's and nn/optim's tests and on the GPU
// in the CUDA test binary of bench/cuda; the comparisons are
// tensor/devicetest's Compare.
package nntest

import (
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/autograd/autogradtest"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// Modules runs nn's modules forward and backward on dev and on the CPU
// from the same inputs and weights (autogradtest.Run): a Sequential with
// ReLU, a causal MultiheadAttention and a ResidualAttentionBlock
// (QuickGELU); the values and the inputs' gradients within rel.
func Modules(t testing.TB, dev tensor.Device, rel float64) {
	t.Helper()
	moveTo := func(m nn.Module, d tensor.Device) {
		t.Helper()
		if err := nn.To(m, d); err != nil {
			t.Fatal(err)
		}
	}
	autogradtest.Run(t, dev, rel, []autogradtest.Case{
		{Name: "nn.Sequential with ReLU", In: []*tensor.Tensor{devicetest.Randn(26, 4, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			p := nn.Random(tensor.NewRNG(27))
			s := (&nn.Sequential{}).Add("linear1", nn.NewLinear(p, "l1", 8, 6, true)).Add("relu", nn.ReLU{}).Add("linear2", nn.NewLinear(p, "l2", 6, 3, true))
			moveTo(s, v[0].Value.Device())
			return s.Forward(v[0])
		}},
		{Name: "nn.MultiheadAttention (causal)", In: []*tensor.Tensor{devicetest.Randn(28, 2, 7, 16)}, F: func(v []*autograd.Var) *autograd.Var {
			m := nn.NewMultiheadAttention(nn.Random(tensor.NewRNG(29)), "attn", 16, 2)
			moveTo(m, v[0].Value.Device())
			return m.Forward(v[0], true)
		}},
		{Name: "nn.ResidualAttentionBlock (QuickGELU)", In: []*tensor.Tensor{devicetest.Randn(30, 2, 7, 16)}, F: func(v []*autograd.Var) *autograd.Var {
			b := nn.NewResidualAttentionBlock(nn.Random(tensor.NewRNG(31)), "block", 16, 2, false)
			moveTo(b, v[0].Value.Device())
			return b.Forward(v[0])
		}},
	})
}

// Optimizers runs three steps of SGD (four settings), AdamW and
// ClipGradNorm on parameters on dev and on the CPU with the same gradients,
// and compares the parameters (and the norm) within rel; the SGD state goes
// through State and LoadState on the way (host copies, as a checkpoint
// does).
func Optimizers(t testing.TB, dev tensor.Device, rel float64) {
	t.Helper()
	to := func(x *tensor.Tensor, d tensor.Device) *tensor.Tensor { t.Helper(); return devicetest.To(t, x, d) }
	newParams := func(d tensor.Device) []nn.NamedParam {
		return []nn.NamedParam{
			{Name: "w", Var: autograd.Param(to(devicetest.Randn(40, 33, 17), d))},
			{Name: "b", Var: autograd.Param(to(devicetest.Randn(41, 17), d))},
		}
	}
	grads := [][]*tensor.Tensor{{devicetest.Randn(42, 33, 17), devicetest.Randn(43, 17)}, {devicetest.Randn(44, 33, 17), devicetest.Randn(45, 17)}, {devicetest.Randn(46, 33, 17), devicetest.Randn(47, 17)}}
	setGrads := func(ps []nn.NamedParam, step int, d tensor.Device) {
		for i, p := range ps {
			p.Var.Grad = to(grads[step][i].Clone(), d)
		}
	}
	compare := func(name string, got, want []nn.NamedParam) {
		for i := range want {
			devicetest.OnDevice(t, name, got[i].Var.Value, dev)
			devicetest.Compare(t, name+" "+want[i].Name, got[i].Var.Value, want[i].Var.Value, rel)
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
						st.Momentum[k] = to(b, tensor.CPU) // as a checkpoint stores it
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
	devicetest.CompareFloat(t, "ClipGradNorm's norm", gotNorm, wantNorm, rel)
}
