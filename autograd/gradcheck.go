package autograd

import (
	"fmt"
	"math"
	"strings"

	"github.com/gocoop/gocoop/tensor"
)

// GradCheckOptions tunes GradCheck; zero fields take the defaults.
type GradCheckOptions struct {
	// Eps is the finite-difference step (default 1e-2).
	Eps float64
	// An element passes when |analytic − numeric| ≤ Atol + Rtol·max(|analytic|,
	// |numeric|) (defaults 1e-3 and 1e-2).
	Atol, Rtol float64
	// MaxPerInput checks at most this many elements of each input, evenly
	// strided (0: every element).
	MaxPerInput int
	// Seed draws the fake-loss weights.
	Seed uint64
}

// GradCheck compares the analytic gradient of f with centred finite
// differences of its forward, as torch.autograd.gradcheck. f computes an
// output from inputs (which it captures); the loss is llm.c's fake loss
// L = Σ w ⊙ f() with fixed w ~ N(0, 1) (w = 1 for a scalar output), so
// every output element gets its own upstream gradient. The analytic
// gradients come from Grad (no Grad field is touched); the numeric ones
// from L(x + ε) − L(x − ε) over the step actually taken in float32, each
// loss summed in float64 under NoGrad, one element of one input at a time
// (inputs are perturbed in place and restored: they must be leaves with
// contiguous values, requiring grad).
//
// Tensors are float32, so inputs should be O(1) and away from kinks (relu
// at 0); rounding noise is then ~1e-5, far below the default tolerance.
// GradCheck returns the worst error as a fraction of the tolerance (≤ 1 is
// a pass) and an error naming the first mismatches, or an input no
// gradient reaches.
func GradCheck(f func() *Var, inputs []*Var, opt GradCheckOptions) (worst float64, err error) {
	eps, atol, rtol := opt.Eps, opt.Atol, opt.Rtol
	if eps == 0 {
		eps = 1e-2
	}
	if atol == 0 {
		atol = 1e-3
	}
	if rtol == 0 {
		rtol = 1e-2
	}
	for i, v := range inputs {
		if !v.IsLeaf() || !v.Value.IsContiguous() {
			return 0, fmt.Errorf("autograd: GradCheck: input %d (%s) must be a leaf with contiguous values", i, v.label())
		}
	}
	out := f()
	w := tensor.Ones(out.Shape()...)
	if out.Value.Numel() != 1 {
		w = tensor.NewRNG(opt.Seed).Normal(0, 1, out.Shape()...)
	}
	grads := Grad([]*Var{out}, inputs, []*tensor.Tensor{w})
	wd := w.ToSlice()
	loss := func() float64 {
		var o *Var
		NoGrad(func() { o = f() })
		var s float64
		for i, y := range o.Value.ToSlice() {
			s += float64(wd[i]) * float64(y)
		}
		return s
	}
	var errs []string
	for i, v := range inputs {
		if grads[i] == nil {
			return 0, fmt.Errorf("autograd: GradCheck: no gradient reaches input %d (%s)", i, v.label())
		}
		ana, data := grads[i].ToSlice(), v.Value.Data()
		stride := 1
		if opt.MaxPerInput > 0 {
			stride = max(1, len(data)/opt.MaxPerInput)
		}
		for j := 0; j < len(data); j += stride {
			orig := data[j]
			data[j] = orig + float32(eps)
			hi, lp := data[j], loss()
			data[j] = orig - float32(eps)
			lo, lm := data[j], loss()
			data[j] = orig
			num := (lp - lm) / (float64(hi) - float64(lo))
			a := float64(ana[j])
			r := math.Abs(num-a) / (atol + rtol*math.Max(math.Abs(num), math.Abs(a)))
			if !(r <= 1) && len(errs) < 5 {
				errs = append(errs, fmt.Sprintf("input %d (%s) element %d: analytic %.6g, numeric %.6g", i, v.label(), j, a, num))
			}
			if !(r <= worst) {
				worst = r // NaN sticks
			}
		}
	}
	if len(errs) > 0 {
		return worst, fmt.Errorf("autograd: GradCheck: gradient mismatch (worst error %.3g× tolerance):\n\t%s", worst, strings.Join(errs, "\n\t"))
	}
	return worst, nil
}
