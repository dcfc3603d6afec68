package autograd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// Grad returns what BackwardWith would accumulate, for leaves and
// intermediates, and touches no Grad field.
func TestGradMatchesBackward(t *testing.T) {
	rng := tensor.NewRNG(1)
	x := Param(rng.Normal(0, 1, 3, 4))
	w := Param(rng.Normal(0, 1, 5, 4))
	h := Tanh(Linear(x, w, nil)).RetainGrad() // [3, 5]
	y := Softmax(MatMulT(h, h, false, true), -1)
	seed := rng.Normal(0, 1, 3, 3)

	got := Grad([]*Var{y}, []*Var{x, h, w, x}, []*tensor.Tensor{seed})
	if x.Grad != nil || w.Grad != nil || h.Grad != nil {
		t.Fatal("Grad accumulated into a Grad field")
	}
	y.BackwardWith(seed)
	for i, want := range []*tensor.Tensor{x.Grad, h.Grad, w.Grad, x.Grad} {
		if got[i] == nil || tensor.MaxAbsDiff(got[i], want) != 0 {
			t.Errorf("input %d: Grad differs from BackwardWith", i)
		}
	}
	// Two outputs: the gradients of the sum of their seeded losses.
	a := Param(vec(1, 2))
	g := Grad([]*Var{Sum(Mul(a, a), nil, false), Sum(MulScalar(a, 3), nil, false)}, []*Var{a}, nil)
	if want := vec(2+3, 4+3); tensor.MaxAbsDiff(g[0], want) != 0 {
		t.Errorf("two outputs: %v, want %v", g[0].ToSlice(), want.ToSlice())
	}
}

// Grad walks only the part of the graph between outputs and inputs, runs
// hooks on it, and returns nil for an input no output depends on.
func TestGradPrunesAndHooks(t *testing.T) {
	a, b, unused := Param(vec(1, 2)), Param(vec(3, 4)), Param(vec(5))
	ran := 0
	expensive := newOp("expensive", b.Value.Clone(), func(g *tensor.Tensor) { ran++; b.node.accumulate(g) }, b)
	mid := Mul(a, a)
	mid.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { return tensor.Full(10, g.Shape()...) })
	y := Sum(Add(mid, expensive), nil, false)
	g := Grad([]*Var{y}, []*Var{a, unused}, nil)
	if ran != 0 {
		t.Errorf("the backward of a branch that reaches no input ran %d times", ran)
	}
	if want := vec(20, 40); tensor.MaxAbsDiff(g[0], want) != 0 { // 10 · 2a: the hook replaced d y/d mid
		t.Errorf("hooked gradient %v, want %v", g[0].ToSlice(), want.ToSlice())
	}
	if g[1] != nil {
		t.Errorf("unused input got %v", g[1].ToSlice())
	}
	// The graph is kept: Grad again, and a Backward after it.
	if g2 := Grad([]*Var{y}, []*Var{b}, nil); ran != 1 || tensor.MaxAbsDiff(g2[0], vec(1, 1)) != 0 {
		t.Errorf("second Grad: ran %d, %v", ran, g2[0].ToSlice())
	}
	wantPanic(t, "does not require grad", func() { Grad([]*Var{y}, []*Var{Constant(vec(1))}, nil) })
	wantPanic(t, "not a scalar", func() { Grad([]*Var{mid}, []*Var{a}, nil) })
	wantPanic(t, "2 seeds for 1 outputs", func() { Grad([]*Var{y}, []*Var{a}, []*tensor.Tensor{vec(1), vec(1)}) })
}

// GradCheck fails on a wrong backward and names the input and element.
func TestGradCheckCatchesWrongBackward(t *testing.T) {
	x := Param(tensor.NewRNG(2).Normal(0, 1, 2, 3))
	// y = x², with a backward that forgets the factor 2.
	wrong := func() *Var {
		xv, nx := x.Value, x.node
		return newOp("square", tensor.Mul(xv, xv), func(g *tensor.Tensor) { nx.accumulate(tensor.Mul(g, xv)) }, x)
	}
	worst, err := GradCheck(wrong, []*Var{x}, GradCheckOptions{})
	if err == nil || worst <= 1 || !strings.Contains(err.Error(), "input 0") {
		t.Fatalf("GradCheck passed a wrong backward (worst %.3g, err %v)", worst, err)
	}
	right := func() *Var { return Mul(x, x) }
	if worst, err := GradCheck(right, []*Var{x}, GradCheckOptions{MaxPerInput: 2}); err != nil || worst > 1 {
		t.Fatalf("GradCheck failed x²: %v", err)
	}
	if x.Grad != nil {
		t.Error("GradCheck left a gradient in Grad")
	}
	other := Param(vec(1))
	if _, err := GradCheck(right, []*Var{x, other}, GradCheckOptions{}); err == nil || !strings.Contains(err.Error(), "no gradient reaches input 1") {
		t.Errorf("unreached input: %v", err)
	}
}

func TestWriteDot(t *testing.T) {
	x := Param(vec(1, 2)).SetName(`prompt "x"`)
	w := Constant(vec(3, 4)) // frozen: not in the graph
	h := Mul(x, w).RetainGrad()
	h.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { return nil })
	y := Sum(Add(h, x), nil, false)
	var buf bytes.Buffer
	if err := y.WriteDot(&buf); err != nil {
		t.Fatal(err)
	}
	dot := buf.String()
	for _, want := range []string{
		"digraph autograd {",
		`n0 [label="prompt \"x\"\n[2]" shape=ellipse];`,
		`n1 [label="mul\n[2]\n1 hook(s)" shape=box style=filled fillcolor=lightblue];`,
		`n2 [label="add\n[2]" shape=box];`,
		`n3 [label="sum\n[]" shape=box];`,
		"n0 -> n1;", "n1 -> n2;", "n0 -> n2;", "n2 -> n3;",
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
	if strings.Count(dot, "->") != 4 || strings.Count(dot, "label=") != 4 {
		t.Errorf("want 4 nodes and 4 edges:\n%s", dot)
	}
}
