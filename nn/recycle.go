package nn

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// recycle hands the values of a module's temporaries (activations it made
// from its input in on the way to out, which is all that depends on them
// from here on) to the allocator for reuse (tensor.Recycle), when nothing
// else can read them: out is in no graph, so no op on the way to it kept a
// backward closure, and hold is false (the caller passes true when a hook
// or a record may have kept one of them). A temporary sharing in's or
// out's storage is left alone, and a storage that several temporaries view
// (a reshape that needed no copy) is recycled once. Modules call it as soon
// as a temporary is dead, so that no more of them are held at once than
// the collector would find alive. This keeps a frozen tower's forward
// (CoCoOp's image encoder, evaluation) from allocating every activation
// afresh: block after block reuses the same buffers (docs/cost_model.md,
// "Allocation and the garbage collector").
func recycle(in, out *autograd.Var, hold bool, temps ...*autograd.Var) {
	if hold || out.RequiresGrad() {
		return
	}
	var dead []*tensor.Tensor
next:
	for _, t := range temps {
		if t == nil || t.RequiresGrad() || tensor.SharesStorage(t.Value, in.Value) || tensor.SharesStorage(t.Value, out.Value) {
			continue
		}
		for _, d := range dead {
			if tensor.SharesStorage(t.Value, d) {
				continue next
			}
		}
		dead = append(dead, t.Value)
	}
	for _, d := range dead { // after the loop: Recycle leaves a tensor without storage
		tensor.Recycle(d)
	}
}
