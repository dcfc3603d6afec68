package nn

import (
	"fmt"
	"slices"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// ForwardHook is called during a forward pass with a module's input and
// output, as torch's register_forward_hook: a non-nil return, of the
// output's shape, replaces the output (ablation, activation patching);
// nil keeps it. Both are graph nodes, so a hook may also RetainGrad or
// RegisterHook them. On a packed forward (ForwardPacked) they are packed
// rows, [R, ...]: which rows hold which sequence position is the caller's
// layout (clip.TowerTrace.Rows for the text tower).
type ForwardHook func(input, output *autograd.Var) *autograd.Var

// HookHandle removes a registered hook (torch's RemovableHandle).
type HookHandle struct{ remove func() }

// Remove unregisters the hook; later calls do nothing.
func (h *HookHandle) Remove() {
	if h.remove != nil {
		h.remove()
		h.remove = nil
	}
}

// forwardHooks is a module's list of hooks at one point of its forward,
// run in registration order.
type forwardHooks struct{ fns []*ForwardHook }

func (l *forwardHooks) register(f ForwardHook) *HookHandle {
	p := &f
	l.fns = append(l.fns, p)
	return &HookHandle{remove: func() { l.fns = slices.DeleteFunc(l.fns, func(q *ForwardHook) bool { return q == p }) }}
}

// run applies the hooks to (input, output) and returns the output they
// leave; what names the hook point in errors.
func (l *forwardHooks) run(what string, input, output *autograd.Var) *autograd.Var {
	for _, f := range l.fns {
		r := (*f)(input, output)
		if r == nil {
			continue
		}
		if !tensor.SameShape(r.Shape(), output.Shape()) {
			panic(fmt.Sprintf("nn: forward hook of %s returned shape %v for an output of shape %v", what, r.Shape(), output.Shape()))
		}
		output = r
	}
	return output
}
