package autograd

import (
	"runtime"
	"strings"
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

// SaveForBackward: the saved tensor is freed once a Backward has walked
// through the Var that holds it (after every backward that reads it has
// run: the gradient is that of a graph that frees nothing), Grad frees
// nothing, and a second walk through a freed node panics instead of
// reading freed storage.
func TestSaveForBackward(t *testing.T) {
	build := func(save bool) (*Var, *Var, *Var) {
		x := Param(tensor.FromSlice([]float32{0.5, -1, 2}, 3))
		a := Exp(x)                     // [3]
		y := Sum(Mul(a, a), nil, false) // Σ exp(x)²: Mul's backward reads a
		if save {
			y.SaveForBackward(a.Value)
		}
		return x, a, y
	}
	x0, _, y0 := build(false)
	y0.Backward()
	y0.Backward() // a graph that saved nothing may be walked again
	want := x0.Grad.Clone()
	want.ScaleInPlace(0.5)

	x, a, y := build(true)
	for range 2 { // Grad keeps the graph
		if g := Grad([]*Var{y}, []*Var{x}, nil)[0]; tensor.MaxAbsDiff(g, want) != 0 {
			t.Fatalf("Grad = %v, want %v", g, want)
		}
	}
	y.Backward()
	if d := tensor.MaxAbsDiff(x.Grad, want); d != 0 {
		t.Fatalf("gradient off by %g after freeing the saved tensor", d)
	}
	if err := tensor.Try(func() { a.Value.Data() }); err == nil {
		t.Error("the saved tensor still has its storage after Backward")
	}
	for _, walk := range []func(){func() { y.Backward() }, func() { Grad([]*Var{y}, []*Var{x}, nil) }} {
		err := tensor.Try(walk)
		if err == nil || !strings.Contains(err.Error(), "a second time") {
			t.Errorf("a second walk through freed tensors: %v, want a panic naming it", err)
		}
	}

	// In no graph, SaveForBackward keeps nothing.
	c := Exp(Constant(tensor.FromSlice([]float32{1, 2}, 2)))
	c.SaveForBackward(c.Value)
	if c.saved != nil {
		t.Error("a Var in no graph saved a tensor")
	}
}
