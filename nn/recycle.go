package nn

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// recycle hands the values of a module's temporaries (activations it made
// from its input in on the way to out, which is all that depends on them
// from here on) to the allocator for reuse (tensor.Recycle), unless hold
// (the caller passes true when a hook or a record may have kept one of
// them). read says whether the backward of an op between in and out reads
// them: QuickGELU's reads its input, attention's its q, k, v and
// probabilities, LayerNorm's its input, a Linear's its input only for the
// weight's gradient (readsInput); Add and the reshapes read nothing.
// Temporaries no backward reads are dead now, in a graph or not; those a
// backward reads are dead now if out is in no graph, else once a Backward
// has walked through out (autograd's SaveForBackward). A temporary sharing
// in's or out's storage is left alone, and a storage that several
// temporaries view (a reshape that needed no copy) is handed on once.
// Modules call it as soon as a temporary is dead, so that no more of them
// are held at once than the collector would find alive. A frozen tower's
// forward (CoCoOp's image encoder, evaluation) thus reuses the same buffers
// block after block, and a training step's text tower reuses the last
// step's (docs/cost_model.md, "Allocation and the garbage collector").
func recycle(in, out *autograd.Var, hold, read bool, temps ...*autograd.Var) {
	if hold {
		return
	}
	save := read && out.RequiresGrad()
	var dead []*tensor.Tensor
	for _, t := range temps {
		if t != nil && !(read && !save && t.RequiresGrad()) && !tensor.SharesStorage(t.Value, in.Value) && !tensor.SharesStorage(t.Value, out.Value) {
			dead = append(dead, t.Value)
		}
	}
	if save {
		out.SaveForBackward(dead...)
	} else {
		tensor.Recycle(dead...) // a storage several temporaries view goes back once
	}
}

// readsInput reports whether l's backward reads its input x: only for the
// weight's gradient (autograd.Linear keeps x only when w requires grad).
func (l *Linear) readsInput() bool { return l.Weight.RequiresGrad() }
