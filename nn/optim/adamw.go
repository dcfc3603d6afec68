package optim

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// Group is a parameter group: parameters that share a weight decay (as the
// dicts of torch.optim's param_groups).
type Group struct {
	Params      []nn.NamedParam
	WeightDecay float32
}

// AdamW is torch.optim.AdamW (amsgrad off, maximize off) over parameter
// groups. Per parameter that requires grad and has a Grad, Step does, with
// t the parameter's own step count (torch's state["step"]):
//
//	p = p·(1 − lr·wd)                          decoupled weight decay
//	m = β₁·m + (1−β₁)·g
//	v = β₂·v + (1−β₂)·g²
//	p = p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
//
// Grad is not modified. Defaults (NewAdamW): β = (0.9, 0.999), ε = 1e-8.
type AdamW struct {
	Groups       []Group
	LR           float32
	Beta1, Beta2 float32
	Eps          float32

	m, v  map[string]*tensor.Tensor // first and second moments by parameter name
	t     map[string]int            // per-parameter step counts
	steps int
}

// NewAdamW builds the optimizer over groups with learning rate lr and
// torch's defaults for the rest. Parameter names must be unique across
// groups (they key the exportable state).
func NewAdamW(groups []Group, lr float32) *AdamW {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, p := range g.Params {
			if seen[p.Name] {
				panic(fmt.Sprintf("optim.NewAdamW: duplicate parameter name %q", p.Name))
			}
			seen[p.Name] = true
		}
	}
	return &AdamW{Groups: groups, LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		m: map[string]*tensor.Tensor{}, v: map[string]*tensor.Tensor{}, t: map[string]int{}}
}

// Params lists the parameters of every group, in group order.
func (o *AdamW) Params() []nn.NamedParam {
	var out []nn.NamedParam
	for _, g := range o.Groups {
		out = append(out, g.Params...)
	}
	return out
}

// ZeroGrad clears the gradient of every parameter (Grad = nil).
func (o *AdamW) ZeroGrad() {
	for _, g := range o.Groups {
		for _, p := range g.Params {
			p.Var.ZeroGrad()
		}
	}
}

// Step applies one update.
func (o *AdamW) Step() {
	for _, g := range o.Groups {
		for _, p := range g.Params {
			v := p.Var
			if !v.RequiresGrad() || v.Grad == nil {
				continue
			}
			if onDevice(v.Value) {
				o.stepDevice(p.Name, v, g.WeightDecay)
				continue
			}
			m, ok := o.m[p.Name]
			if !ok {
				m, o.v[p.Name] = tensor.ZerosLike(v.Value), tensor.ZerosLike(v.Value)
				o.m[p.Name] = m
			}
			o.t[p.Name]++
			o.update(v.Value.Data(), v.Grad.Contiguous().Data(), m.Data(), o.v[p.Name].Data(), g.WeightDecay, o.t[p.Name])
		}
	}
	o.steps++
}

// update is one AdamW step on flat slices, in torch's order of float32
// operations (single-tensor path).
func (o *AdamW) update(p, g, m, v []float32, wd float32, t int) {
	lr, b1, b2 := o.LR, o.Beta1, o.Beta2
	decay := 1 - lr*wd
	bc1 := 1 - math.Pow(float64(b1), float64(t))
	bc2 := 1 - math.Pow(float64(b2), float64(t))
	stepSize := float32(float64(lr) / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	eps := o.Eps
	tensor.ParallelFor(len(p), 16, func(_, lo, hi int) {
		p, g, m, v := p[lo:hi], g[lo:hi:hi], m[lo:hi:hi], v[lo:hi:hi]
		for i := range p {
			gi := g[i]
			if gi == 0 && m[i] == 0 && v[i] == 0 && wd == 0 {
				// The update below would leave m, v and p as they are
				// (p −= stepSize·0/ε): the rows of a token embedding that
				// no batch has used yet, most of CLIP's 49408.
				continue
			}
			if wd != 0 {
				p[i] *= decay
			}
			m[i] += (gi - m[i]) * (1 - b1)  // lerp(m, g, 1−β₁)
			v[i] = v[i]*b2 + (1-b2)*(gi*gi) // addcmul_(g, g, 1−β₂)
			denom := float32(math.Sqrt(float64(v[i])))/bc2Sqrt + eps
			p[i] -= stepSize * (m[i] / denom)
		}
	})
}

// Steps returns the number of Step calls so far (including imported ones).
func (o *AdamW) Steps() int { return o.steps }

// AdamWState is the resumable state of an AdamW: the moments and step count
// of every parameter stepped so far, keyed by name, and the Step count.
type AdamWState struct {
	Steps      int
	ExpAvg     map[string]*tensor.Tensor
	ExpAvgSq   map[string]*tensor.Tensor
	ParamSteps map[string]int
}

// State returns copies of the optimizer state (each moment on its
// parameter's device).
func (o *AdamW) State() AdamWState {
	s := AdamWState{Steps: o.steps, ExpAvg: map[string]*tensor.Tensor{}, ExpAvgSq: map[string]*tensor.Tensor{},
		ParamSteps: map[string]int{}}
	for k, m := range o.m {
		s.ExpAvg[k], s.ExpAvgSq[k], s.ParamSteps[k] = m.Clone(), o.v[k].Clone(), o.t[k]
	}
	return s
}

// LoadState replaces the optimizer state with copies of s, each moment on
// its parameter's device. Errors name the key: an unknown parameter, a
// moment whose shape differs from it, or a parameter with only some of its
// three entries.
func (o *AdamW) LoadState(s AdamWState) error {
	byName := map[string][]int{}
	values := map[string]*tensor.Tensor{}
	for _, p := range o.Params() {
		byName[p.Name] = p.Var.Shape()
		values[p.Name] = p.Var.Value
	}
	keys := make([]string, 0, len(s.ExpAvg))
	for k := range s.ExpAvg {
		keys = append(keys, k)
	}
	for k := range s.ExpAvgSq {
		if _, ok := s.ExpAvg[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		want, ok := byName[k]
		m, v := s.ExpAvg[k], s.ExpAvgSq[k]
		_, hasT := s.ParamSteps[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("optim: load state %q: no such parameter", k))
		case m == nil || v == nil || !hasT:
			errs = append(errs, fmt.Errorf("optim: load state %q: incomplete (exp_avg %v, exp_avg_sq %v, step %v)", k, m != nil, v != nil, hasT))
		case !tensor.SameShape(want, m.Shape()) || !tensor.SameShape(want, v.Shape()):
			errs = append(errs, fmt.Errorf("optim: load state %q: shape mismatch: parameter has %v, state has %v and %v",
				k, want, m.Shape(), v.Shape()))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m, v, t := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}, map[string]int{}
	for _, k := range keys {
		var err error
		if m[k], err = toParam(s.ExpAvg[k], values[k]); err != nil {
			return fmt.Errorf("optim: load state %q: %w", k, err)
		}
		if v[k], err = toParam(s.ExpAvgSq[k], values[k]); err != nil {
			return fmt.Errorf("optim: load state %q: %w", k, err)
		}
		t[k] = s.ParamSteps[k]
	}
	o.m, o.v, o.t = m, v, t
	o.steps = s.Steps
	return nil
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_(params, maxNorm): the
// global L2 norm of every gradient (summed in float64) is returned, and
// when it exceeds maxNorm every gradient is scaled in place by
// maxNorm/(norm + 1e-6). Parameters without a Grad are skipped.
//
// Gradients on a device are reduced there (one float32 sum of squares per
// parameter, downloaded together and added in float64) and scaled there
// (the scaled gradient replaces Grad).
func ClipGradNorm(params []nn.NamedParam, maxNorm float64) float64 {
	var grads []*tensor.Tensor
	for _, p := range params {
		if p.Var.Grad != nil {
			grads = append(grads, p.Var.Grad)
		}
	}
	norm := math.Sqrt(sumSquares(grads))
	if coef := maxNorm / (norm + 1e-6); coef < 1 {
		for _, p := range params {
			switch g := p.Var.Grad; {
			case g == nil:
			case onDevice(g):
				p.Var.Grad = tensor.MulScalar(g, float32(coef))
			default:
				g.ScaleInPlace(float32(coef))
			}
		}
	}
	return norm
}
