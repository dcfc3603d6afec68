package autograd

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

func vec(vals ...float32) *tensor.Tensor { return tensor.FromSlice(vals, len(vals)) }

func wantGrad(t *testing.T, name string, v *Var, want ...float32) {
	t.Helper()
	if v.Grad == nil {
		t.Fatalf("%s: Grad is nil, want %v", name, want)
	}
	if !tensor.AllClose(v.Grad, tensor.FromSlice(want, v.Grad.Shape()...), 1e-5, 1e-6) {
		t.Errorf("%s: Grad = %v, want %v", name, v.Grad.ToSlice(), want)
	}
}

// wantPanic runs f and checks that it panics with a message containing sub.
func wantPanic(t *testing.T, sub string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", sub)
		}
		var msg string
		switch e := r.(type) {
		case error:
			msg = e.Error()
		case string:
			msg = e
		}
		if !strings.Contains(msg, sub) {
			t.Fatalf("panic %q, want it to contain %q", msg, sub)
		}
	}()
	f()
}

// A Var used on two paths (a diamond) gets the sum of both contributions.
func TestDiamondAccumulates(t *testing.T) {
	a := Param(vec(1, 2, 3))
	b := Mul(a, a)               // a²
	c := Add(b, MulScalar(a, 3)) // a² + 3a
	d := Mul(c, b)               // (a² + 3a)·a²: b used twice
	Sum(d, nil, false).Backward()
	// d/da (a⁴ + 3a³) = 4a³ + 9a²
	wantGrad(t, "a", a, 4+9, 32+36, 108+81)
	if b.Grad != nil || c.Grad != nil {
		t.Errorf("intermediate gradients kept without RetainGrad")
	}
}

// Backward twice accumulates into leaves until ZeroGrad.
func TestBackwardAccumulatesAcrossCalls(t *testing.T) {
	a := Param(vec(1, 2))
	y := Sum(MulScalar(a, 2), nil, false)
	y.Backward()
	y.Backward()
	wantGrad(t, "a", a, 4, 4)
	a.ZeroGrad()
	if a.Grad != nil {
		t.Fatal("ZeroGrad left a gradient")
	}
	y.Backward()
	wantGrad(t, "a", a, 2, 2)
}

// Frozen inputs get no gradient buffer, but gradients flow through frozen
// weights to trainable inputs (CLIP between prompt vectors and the loss).
func TestFrozenWeightsPassGradient(t *testing.T) {
	rng := tensor.NewRNG(1)
	prompt := Param(rng.Normal(0, 1, 2, 3))
	w1, b1 := Constant(rng.Normal(0, 1, 4, 3)), Constant(rng.Normal(0, 1, 4))
	ln := Constant(tensor.Ones(4))
	w2 := Constant(rng.Normal(0, 1, 2, 4))
	h := LayerNorm(QuickGELU(Linear(prompt, w1, b1)), ln, nil, 1e-5)
	loss := CrossEntropy(Linear(h, w2, nil), []int{0, 1})
	if !h.RequiresGrad() || !loss.RequiresGrad() {
		t.Fatal("results of a trainable input must require grad")
	}
	loss.Backward()
	if prompt.Grad == nil {
		t.Fatal("trainable input behind frozen layers got no gradient")
	}
	for name, v := range map[string]*Var{"w1": w1, "b1": b1, "ln": ln, "w2": w2} {
		if v.Grad != nil || v.RequiresGrad() {
			t.Errorf("frozen %s got a gradient", name)
		}
	}

	// Same graph with everything frozen records nothing.
	prompt.SetRequiresGrad(false)
	out := Linear(prompt, w1, b1)
	if out.RequiresGrad() || !out.IsLeaf() {
		t.Error("op on frozen inputs only must give a frozen leaf")
	}
	wantPanic(t, "does not require grad", func() { Sum(out, nil, false).Backward() })
}

// Frozen inputs are not graph edges: Backward never visits them, and each
// op's closure skips their math (it tests requiresGrad first).
func TestFrozenNotInGraph(t *testing.T) {
	x := Param(tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2))
	w := Constant(tensor.FromSlice([]float32{1, 0, 0, 1}, 2, 2)) // identity
	y := Linear(x, w, nil)
	if len(y.parents) != 1 || y.parents[0] != x.node {
		t.Fatalf("graph edges of Linear(x, frozen w): %d, want only x", len(y.parents))
	}
	Sum(y, nil, false).Backward()
	wantGrad(t, "x", x, 1, 1, 1, 1)
	if w.Grad != nil {
		t.Error("frozen w got a gradient")
	}
}

func TestNoGrad(t *testing.T) {
	a := Param(vec(1, 2))
	var y *Var
	NoGrad(func() {
		if GradEnabled() {
			t.Error("GradEnabled inside NoGrad")
		}
		y = Mul(a, a)
	})
	if !GradEnabled() {
		t.Fatal("NoGrad did not restore recording")
	}
	if y.RequiresGrad() || !y.IsLeaf() || len(y.parents) != 0 || y.backward != nil {
		t.Error("op under NoGrad recorded a graph")
	}
	prev := SetGradEnabled(false)
	if !prev {
		t.Error("SetGradEnabled returned the wrong previous setting")
	}
	if Add(a, a).RequiresGrad() {
		t.Error("op with recording off requires grad")
	}
	SetGradEnabled(true)
	// NoGrad restores the setting when f panics.
	func() {
		defer func() { recover() }()
		NoGrad(func() { panic("boom") })
	}()
	if !GradEnabled() {
		t.Error("NoGrad did not restore recording after a panic")
	}
}

func TestRetainGradAndHooks(t *testing.T) {
	a := Param(vec(1, 2, 3))
	h := MulScalar(a, 2).RetainGrad() // h = 2a
	var seen []float32
	h.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor {
		seen = g.ToSlice()
		return nil // observe only
	})
	y := Mul(h, h) // y = h², dy/dh = 2h
	y.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor {
		return tensor.MulScalar(g, 10) // scale the gradient passed on
	})
	y.BackwardWith(tensor.Ones(3))
	// dh = 10·2h = 20·(2a) = 40a; da = 2·dh = 80a.
	wantGrad(t, "h (retained)", h, 40, 80, 120)
	if len(seen) != 3 || seen[0] != 40 {
		t.Errorf("hook on h saw %v, want the accumulated [40 80 120]", seen)
	}
	wantGrad(t, "a", a, 80, 160, 240)
	if y.Grad != nil {
		t.Error("unretained output kept its gradient")
	}

	// A hook sees the gradient only after all paths have been summed.
	b := Param(vec(1))
	c := MulScalar(b, 1)
	var calls int
	var got float32
	c.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { calls++; got = g.Item(); return nil })
	Add(Add(c, MulScalar(c, 2)), MulScalar(c, 4)).Backward()
	if calls != 1 || got != 7 {
		t.Errorf("hook called %d times with %v, want once with 7", calls, got)
	}

	// Hooks on leaves run before accumulation and may replace the gradient.
	p := Param(vec(1, 1))
	p.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { return tensor.Neg(g) })
	Sum(p, nil, false).Backward()
	wantGrad(t, "p", p, -1, -1)

	wantPanic(t, "does not require grad", func() {
		Constant(vec(1)).RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { return nil })
	})
}

func TestBackwardErrors(t *testing.T) {
	a := Param(vec(1, 2))
	wantPanic(t, "scalar", func() { Mul(a, a).Backward() })
	wantPanic(t, "gradient of shape", func() { Mul(a, a).BackwardWith(tensor.Ones(3)) })
	wantPanic(t, "not a leaf", func() { Mul(a, a).SetRequiresGrad(false) })
	// A numel-1 output of any rank is fine.
	Sum(a, nil, true).Backward()
	wantGrad(t, "a", a, 1, 1)
}

// Broadcast inputs receive gradients summed back to their own shapes.
func TestBroadcastGradReduces(t *testing.T) {
	a := Param(tensor.Ones(2, 3))
	b := Param(vec(1, 2, 3))                              // [3]   → summed over rows
	c := Param(tensor.FromSlice([]float32{10, 20}, 2, 1)) // [2,1] → summed over cols
	s := Param(tensor.Scalar(2))                          // []    → summed over all
	y := Mul(Add(Mul(a, b), c), s)                        // ((a⊙b)+c)·s
	Sum(y, nil, false).Backward()
	wantGrad(t, "a", a, 2, 4, 6, 2, 4, 6)
	wantGrad(t, "b", b, 4, 4, 4)
	wantGrad(t, "c", c, 6, 6)
	// Σ((a⊙b)+c) = 2·6 + 3·10 + 3·20
	wantGrad(t, "s", s, 12+30+60)
}

// Leaf gradients own their storage: scaling one in place (gradient clipping)
// must not change another's.
func TestLeafGradsOwnStorage(t *testing.T) {
	a, b := Param(vec(1, 2)), Param(vec(3, 4))
	Sum(Add(a, b), nil, false).Backward() // both receive the same upstream tensor
	a.Grad.ScaleInPlace(5)
	wantGrad(t, "b", b, 1, 1)
}

// TestLeafGradHandedOver: a leaf's first gradient that the walk alone
// holds becomes its Grad without a copy (Grad's results too); one a hook
// saw, or the seed, is copied.
func TestLeafGradHandedOver(t *testing.T) {
	var made *tensor.Tensor // the gradient the op's backward computed
	double := func(x *Var) *Var {
		return Function("double", x, func(x *tensor.Tensor) *tensor.Tensor { return tensor.MulScalar(x, 2) },
			func(_, g *tensor.Tensor) *tensor.Tensor { made = tensor.MulScalar(g, 2); return made })
	}
	a := Param(vec(1, 2, 3))
	double(a).BackwardWith(vec(1, 2, 3))
	if !tensor.SharesStorage(a.Grad, made) {
		t.Error("Backward copied a gradient nothing else holds")
	}
	wantGrad(t, "a", a, 2, 4, 6)
	if g := Grad([]*Var{double(a)}, []*Var{a}, []*tensor.Tensor{vec(1, 1, 1)}); !tensor.SharesStorage(g[0], made) {
		t.Error("Grad copied a gradient nothing else holds")
	}

	b := Param(vec(1, 2, 3))
	var seen *tensor.Tensor
	b.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { seen = g; return nil })
	double(b).BackwardWith(vec(1, 1, 1))
	if tensor.SharesStorage(b.Grad, seen) {
		t.Error("b's Grad is the tensor its hook kept")
	}
	c, seed := Param(vec(1, 2)), vec(3, 4)
	c.BackwardWith(seed)
	if tensor.SharesStorage(c.Grad, seed) {
		t.Error("c's Grad is the caller's seed")
	}
	c.Grad.ScaleInPlace(2)
	if got := seed.ToSlice(); !slices.Equal(got, []float32{3, 4}) {
		t.Errorf("seed changed to %v", got)
	}
}

// A deep chain must not overflow the stack (the topological sort is iterative).
func TestDeepGraph(t *testing.T) {
	a := Param(vec(1))
	y := a
	for range 100000 {
		y = AddScalar(y, 1)
	}
	y.Backward()
	wantGrad(t, "a", a, 1)
}

func TestVarBasics(t *testing.T) {
	a := Param(tensor.Ones(2, 3)).SetName("a")
	if a.Name() != "a" || !a.IsLeaf() || !a.RequiresGrad() || !tensor.SameShape(a.Shape(), []int{2, 3}) {
		t.Errorf("leaf: name %q leaf %v requires %v shape %v", a.Name(), a.IsLeaf(), a.RequiresGrad(), a.Shape())
	}
	y := Exp(a)
	if y.IsLeaf() || y.Name() != "exp" {
		t.Errorf("op result: leaf %v name %q", y.IsLeaf(), y.Name())
	}
	d := y.Detach()
	if !d.IsLeaf() || d.RequiresGrad() || d.Value != y.Value {
		t.Error("Detach must give a frozen leaf sharing the value")
	}
	if Add(d, d).RequiresGrad() {
		t.Error("op on detached values requires grad")
	}
}

// TestBackwardRecyclesOnlyDeadGradients: the walk hands each gradient to
// tensor.Recycle once passed on (in test binaries every recycled buffer is
// poisoned with NaN, tensor/recycle.go), except those still held: one
// tensor Add passes to both of its inputs, a view Reshape passes on, what a
// hook saw, the seed the caller gave. Recycling any of them would show up
// as NaN or a wrong value below.
func TestBackwardRecyclesOnlyDeadGradients(t *testing.T) {
	a, b := Param(vec(0, 1, 2, 3)), Param(vec(-1, 0, 1, 2))
	ea, eb := Exp(a), Exp(b)
	s := Add(ea, eb)      // backward: one tensor to both ea and eb
	r := Reshape(s, 2, 2) // backward: a view of its gradient
	y := Mul(r, Constant(tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)))
	var seen *tensor.Tensor
	s.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { seen = g; return nil })
	seed := tensor.FromSlice([]float32{1, 1, 2, 2}, 2, 2)
	y.BackwardWith(seed)

	if got := seed.ToSlice(); !slices.Equal(got, []float32{1, 1, 2, 2}) {
		t.Errorf("seed changed to %v", got)
	}
	if got := seen.ToSlice(); !slices.Equal(got, []float32{1, 2, 6, 8}) {
		t.Errorf("gradient the hook kept = %v, want [1 2 6 8]", got)
	}
	exp := func(v []float32, g []float32) []float32 {
		out := make([]float32, len(v))
		for i := range v {
			out[i] = g[i] * float32(math.Exp(float64(v[i])))
		}
		return out
	}
	wantGrad(t, "a", a, exp([]float32{0, 1, 2, 3}, []float32{1, 2, 6, 8})...)
	wantGrad(t, "b", b, exp([]float32{-1, 0, 1, 2}, []float32{1, 2, 6, 8})...)

	// Grad returns copies the walk does not recycle.
	gs := Grad([]*Var{y}, []*Var{s, a}, []*tensor.Tensor{seed})
	y.BackwardWith(seed) // another walk, reusing recycled buffers
	if got := gs[0].ToSlice(); !slices.Equal(got, []float32{1, 2, 6, 8}) {
		t.Errorf("Grad's result changed to %v by a later walk", got)
	}
}

// TestUnfreezeAfterForward: a leaf unfrozen after the forward is no edge of
// the graph already built (as in PyTorch): the walk gives it no gradient,
// and leaves nothing pending on it that a later walk would add.
func TestUnfreezeAfterForward(t *testing.T) {
	a, b := NewVar(vec(1, 2, 3), false), Param(vec(4, 5, 6))
	y := Sum(Mul(a, b), nil, false)
	a.SetRequiresGrad(true)
	y.Backward()
	if a.Grad != nil {
		t.Errorf("a, unfrozen after the forward, got gradient %v", a.Grad.ToSlice())
	}
	wantGrad(t, "b", b, 1, 2, 3)
	Sum(a, nil, false).Backward()
	wantGrad(t, "a after a walk of its own", a, 1, 1, 1)
}

// TestFunctionBackwardReturningInput: a Function whose backward returns
// its input's value as the gradient gets it copied, so the walk's
// recycling cannot take x's storage.
func TestFunctionBackwardReturningInput(t *testing.T) {
	x := Param(vec(1, 2, 3))
	y := Function("returns_x", x, func(x *tensor.Tensor) *tensor.Tensor { return x.Clone() },
		func(x, _ *tensor.Tensor) *tensor.Tensor { return x })
	y.BackwardWith(vec(1, 1, 1))
	y.BackwardWith(vec(1, 1, 1))
	if got := x.Value.ToSlice(); !slices.Equal(got, []float32{1, 2, 3}) {
		t.Errorf("x's value became %v", got)
	}
	wantGrad(t, "x", x, 2, 4, 6)
}
