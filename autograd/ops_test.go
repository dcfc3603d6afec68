package autograd

import (
	"math"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// Fused ops against the same math composed from primitive ops: forward
// values and input gradients must agree (float32, so a loose tolerance).

// compareFused runs fused and composed on fresh Params made from the same
// inputs, seeds both with the same random gradient, and compares outputs and
// every input's gradient.
func compareFused(t *testing.T, seed uint64, shapes [][]int, fused, composed func(v []*Var) *Var) {
	t.Helper()
	rng := tensor.NewRNG(seed)
	vals := make([]*tensor.Tensor, len(shapes))
	for i, s := range shapes {
		vals[i] = rng.Normal(0, 1, s...)
	}
	run := func(f func(v []*Var) *Var) (*Var, []*Var) {
		vs := make([]*Var, len(vals))
		for i, v := range vals {
			vs[i] = Param(v.Clone())
		}
		return f(vs), vs
	}
	yf, vf := run(fused)
	yc, vc := run(composed)
	if !tensor.AllClose(yf.Value, yc.Value, 1e-4, 1e-5) {
		t.Fatalf("forward differs by %g", tensor.MaxAbsDiff(yf.Value, yc.Value))
	}
	g := rng.Normal(0, 1, yf.Shape()...)
	yf.BackwardWith(g)
	yc.BackwardWith(g)
	for i := range vf {
		if !tensor.AllClose(vf[i].Grad, vc[i].Grad, 1e-3, 1e-4) {
			t.Errorf("input %d: gradient differs by %g", i, tensor.MaxAbsDiff(vf[i].Grad, vc[i].Grad))
		}
	}
}

func TestAttentionMatchesComposed(t *testing.T) {
	for _, causal := range []bool{false, true} {
		compareFused(t, 7, [][]int{{2, 3, 5, 4}, {2, 3, 5, 4}, {2, 3, 5, 6}},
			func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], causal, nil) },
			func(v []*Var) *Var {
				s := MulScalar(MatMul(v[0], Transpose(v[1], -1, -2)), float32(1/math.Sqrt(4)))
				if causal {
					mask := tensor.New(5, 5)
					for i := range 5 {
						for j := i + 1; j < 5; j++ {
							mask.Set(-1e9, i, j)
						}
					}
					s = Add(s, Constant(mask))
				}
				return MatMul(Softmax(s, -1), v[2])
			})
	}
}

func TestAttentionProbs(t *testing.T) {
	rng := tensor.NewRNG(3)
	var p *tensor.Tensor
	q := Constant(rng.Normal(0, 1, 2, 4, 3))
	ScaledDotProductAttention(q, q, q, true, &p)
	if !tensor.SameShape(p.Shape(), []int{2, 4, 4}) {
		t.Fatalf("probs shape %v, want [2 4 4]", p.Shape())
	}
	for b := range 2 {
		for i := range 4 {
			var sum float32
			for j := range 4 {
				pij := p.At(b, i, j)
				if j > i && pij != 0 {
					t.Errorf("causal probs[%d,%d,%d] = %v, want 0", b, i, j, pij)
				}
				sum += pij
			}
			if math.Abs(float64(sum-1)) > 1e-5 {
				t.Errorf("probs row %d,%d sums to %v", b, i, sum)
			}
		}
	}
}

func TestLayerNormMatchesComposed(t *testing.T) {
	compareFused(t, 8, [][]int{{3, 4, 8}, {8}, {8}},
		func(v []*Var) *Var { return LayerNorm(v[0], v[1], v[2], 1e-5) },
		func(v []*Var) *Var {
			xc := Sub(v[0], Mean(v[0], []int{-1}, true))
			variance := Mean(Mul(xc, xc), []int{-1}, true)
			return Add(Mul(Div(xc, Sqrt(AddScalar(variance, 1e-5))), v[1]), v[2])
		})
}

func TestL2NormalizeMatchesComposed(t *testing.T) {
	compareFused(t, 9, [][]int{{3, 5}},
		func(v []*Var) *Var { return L2Normalize(v[0], -1, 1e-12) },
		func(v []*Var) *Var { return Div(v[0], Sqrt(Sum(Mul(v[0], v[0]), []int{-1}, true))) })
}

func TestCrossEntropyMatchesComposed(t *testing.T) {
	labels := []int{2, 0, 3}
	compareFused(t, 10, [][]int{{3, 4}},
		func(v []*Var) *Var { return CrossEntropy(v[0], labels) },
		func(v []*Var) *Var {
			flat := Reshape(LogSoftmax(v[0], -1), 12)
			picked := IndexSelect(flat, 0, []int{0*4 + 2, 1*4 + 0, 2*4 + 3})
			return Neg(Mean(picked, nil, false))
		})
}

func TestQuickGELUValue(t *testing.T) {
	y := QuickGELU(Constant(vec(-2, 0, 1.5))).Value.ToSlice()
	for i, x := range []float64{-2, 0, 1.5} {
		want := x / (1 + math.Exp(-1.702*x))
		if math.Abs(float64(y[i])-want) > 1e-6 {
			t.Errorf("QuickGELU(%v) = %v, want %v", x, y[i], want)
		}
	}
}

func TestCrossEntropyBadLabel(t *testing.T) {
	logits := Param(tensor.Zeros(2, 3))
	wantPanic(t, "label 3 at row 1 out of range [0, 3)", func() { CrossEntropy(logits, []int{0, 3}) })
	wantPanic(t, "label -1", func() { CrossEntropy(logits, []int{-1, 0}) })
	var err error
	func() {
		defer tensor.Catch(&err)
		CrossEntropy(logits, []int{0, 7})
	}()
	if err == nil {
		t.Error("tensor.Catch did not recover the label error")
	}
	// Uniform logits: loss = log C.
	if got := CrossEntropy(logits, []int{0, 2}).Value.Item(); math.Abs(float64(got)-math.Log(3)) > 1e-6 {
		t.Errorf("loss of zero logits = %v, want log 3", got)
	}
}

func TestGatherRowsBadIndex(t *testing.T) {
	x := Param(tensor.Zeros(2, 3, 4))
	wantPanic(t, "index 3 for batch item 1 out of range [0, 3)", func() { GatherRows(x, []int{0, 3}) })
}

// Large enough that LayerNorm's backward and QuickGELU split rows across
// goroutines: the chunked paths must match the composed ops.
func TestParallelPathsMatchComposed(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	if tensor.Workers(256, 512) < 2 {
		t.Fatal("test too small to run in parallel")
	}
	compareFused(t, 11, [][]int{{2, 128, 512}, {512}, {512}},
		func(v []*Var) *Var { return QuickGELU(LayerNorm(v[0], v[1], v[2], 1e-5)) },
		func(v []*Var) *Var {
			xc := Sub(v[0], Mean(v[0], []int{-1}, true))
			variance := Mean(Mul(xc, xc), []int{-1}, true)
			y := Add(Mul(Div(xc, Sqrt(AddScalar(variance, 1e-5))), v[1]), v[2])
			return Mul(y, Sigmoid(MulScalar(y, 1.702)))
		})
}
