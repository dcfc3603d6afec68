package autograd

import (
	"runtime"
	"testing"
	"weak"

	"github.com/gocoop/gocoop/tensor"
)

// The graph keeps only what the backward needs: the input of a frozen
// Linear (here h, between two frozen layers on a trainable x) is freed once
// the caller drops it, while the graph is alive; the gradient is unchanged.
func TestGraphFreesUnneededValues(t *testing.T) {
	rng := tensor.NewRNG(7)
	x := Param(rng.Normal(0, 1, 3, 64))
	w1 := Constant(rng.Normal(0, 1, 64, 64))
	w2 := Constant(rng.Normal(0, 1, 8, 64))
	h := Linear(x, w1, nil)
	alive := weak.Make(&h.Value.Data()[0])
	y := Linear(Reshape(Permute(Reshape(h, 3, 8, 8), 0, 2, 1), 3, 64), w2, nil)
	h = nil
	runtime.GC()
	runtime.GC()
	if alive.Value() != nil {
		t.Error("the graph keeps the value of a frozen Linear's input alive")
	}
	Sum(y, nil, false).Backward()

	// Same computation, all values kept by the caller.
	x2 := Param(x.Value.Clone())
	h2 := Linear(x2, w1, nil)
	Sum(Linear(Reshape(Permute(Reshape(h2, 3, 8, 8), 0, 2, 1), 3, 64), w2, nil), nil, false).Backward()
	if tensor.MaxAbsDiff(x.Grad, x2.Grad) != 0 {
		t.Error("gradients differ")
	}
	runtime.KeepAlive(h2)
}
