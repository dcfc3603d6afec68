// Package optim holds GoCoOp's optimizers (SGD with momentum and weight decay,
// and AdamW with parameter groups and ClipGradNorm for CLIP pretraining,
// PyTorch semantics) and the per-epoch learning-rate schedules used by Dassl
// (CosineAnnealingLR wrapped in ConstantWarmupScheduler).
package optim

import (
	"errors"
	"fmt"
	"sort"

	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// SGD is torch.optim.SGD with one parameter group. Per parameter that
// requires grad and has a Grad, Step does
//
//	g = grad + wd·p
//	buf = g on the first step, else momentum·buf + (1−dampening)·g
//	g = g + momentum·buf if Nesterov, else buf
//	p = p − lr·g
//
// (without momentum, g is used directly). Grad is not modified.
type SGD struct {
	Params      []nn.NamedParam
	LR          float32
	Momentum    float32
	WeightDecay float32
	Dampening   float32
	Nesterov    bool

	bufs  map[string]*tensor.Tensor // momentum buffers by parameter name
	steps int
}

// NewSGD builds the optimizer over params (names must be unique; they key
// the exportable state).
func NewSGD(params []nn.NamedParam, lr, momentum, weightDecay float32) *SGD {
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.Name] {
			panic(fmt.Sprintf("optim.NewSGD: duplicate parameter name %q", p.Name))
		}
		seen[p.Name] = true
	}
	return &SGD{Params: params, LR: lr, Momentum: momentum, WeightDecay: weightDecay,
		bufs: map[string]*tensor.Tensor{}}
}

// ZeroGrad clears the gradient of every parameter (Grad = nil, as PyTorch's
// set_to_none).
func (o *SGD) ZeroGrad() {
	for _, p := range o.Params {
		p.Var.ZeroGrad()
	}
}

// Step applies one update.
func (o *SGD) Step() {
	for _, p := range o.Params {
		v := p.Var
		if !v.RequiresGrad() || v.Grad == nil {
			continue
		}
		if onDevice(v.Value) {
			o.stepDevice(p.Name, v)
			continue
		}
		g := v.Grad
		if o.WeightDecay != 0 {
			g = tensor.Add(g, tensor.MulScalar(v.Value, o.WeightDecay)) // grad + wd·p
		}
		if o.Momentum != 0 {
			buf, ok := o.bufs[p.Name]
			if !ok {
				buf = g.Clone()
				o.bufs[p.Name] = buf
			} else {
				buf.ScaleInPlace(o.Momentum)
				buf.AxpyInPlace(1-o.Dampening, g)
			}
			if o.Nesterov {
				g = tensor.Add(g, tensor.MulScalar(buf, o.Momentum))
			} else {
				g = buf
			}
		}
		v.Value.AxpyInPlace(-o.LR, g)
	}
	o.steps++
}

// Steps returns the number of Step calls so far (including imported ones).
func (o *SGD) Steps() int { return o.steps }

// State is the resumable state of an SGD: momentum buffers keyed by
// parameter name (parameters never stepped have none) and the step count.
type State struct {
	Steps    int
	Momentum map[string]*tensor.Tensor
}

// State returns copies of the optimizer state (each buffer on its
// parameter's device).
func (o *SGD) State() State {
	s := State{Steps: o.steps, Momentum: map[string]*tensor.Tensor{}}
	for k, b := range o.bufs {
		s.Momentum[k] = b.Clone()
	}
	return s
}

// LoadState replaces the optimizer state with copies of s, each buffer on
// its parameter's device. Errors name the key: an unknown parameter, or a
// buffer whose shape differs from it.
func (o *SGD) LoadState(s State) error {
	byName := map[string][]int{}
	values := map[string]*tensor.Tensor{}
	for _, p := range o.Params {
		byName[p.Name] = p.Var.Shape()
		values[p.Name] = p.Var.Value
	}
	keys := make([]string, 0, len(s.Momentum))
	for k := range s.Momentum {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		want, ok := byName[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("optim: load state %q: no such parameter", k))
		case !tensor.SameShape(want, s.Momentum[k].Shape()):
			errs = append(errs, fmt.Errorf("optim: load state %q: shape mismatch: parameter has %v, state has %v",
				k, want, s.Momentum[k].Shape()))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	bufs := map[string]*tensor.Tensor{}
	for k, b := range s.Momentum {
		c, err := toParam(b, values[k])
		if err != nil {
			return fmt.Errorf("optim: load state %q: %w", k, err)
		}
		bufs[k] = c
	}
	o.bufs = bufs
	o.steps = s.Steps
	return nil
}
