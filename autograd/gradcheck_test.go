package autograd

import (
	"fmt"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// TestGradCheck compares every op's backward with centred finite
// differences of its forward through the public GradCheck (llm.c's fake
// loss, see GradCheck), on inputs drawn O(1) and away from kinks (relu at
// 0), so float32 rounding noise (~1e-5) stays far below the tolerance.

// fill says how an input is drawn.
type fill int

const (
	normal   fill = iota // N(0, 1)
	positive             // U(0.5, 2): log, sqrt, divisors
	awayZero             // N(0, 1) with |x| ≥ 0.2: relu
	tiny                 // N(0, 1e-3): L2Normalize's clamped branch
)

// in describes one input of a case.
type in struct {
	shape  []int
	fill   fill
	frozen bool // a Constant: must get no Grad, and is not differentiated
}

func rnd(shape ...int) in      { return in{shape: shape} }
func pos(shape ...int) in      { return in{shape: shape, fill: positive} }
func kinkless(shape ...int) in { return in{shape: shape, fill: awayZero} }
func constIn(shape ...int) in  { return in{shape: shape, frozen: true} }

type gradCase struct {
	name string
	ins  []in
	f    func(v []*Var) *Var
}

func gradCases() []gradCase {
	return []gradCase{
		// arith.go
		{"add", []in{rnd(2, 3), rnd(2, 3)}, func(v []*Var) *Var { return Add(v[0], v[1]) }},
		{"add/broadcast", []in{rnd(2, 3, 4), rnd(3, 1)}, func(v []*Var) *Var { return Add(v[0], v[1]) }},
		{"sub/broadcast", []in{rnd(4), rnd(2, 3, 4)}, func(v []*Var) *Var { return Sub(v[0], v[1]) }},
		{"mul/broadcast", []in{rnd(2, 1, 4), rnd(3, 1)}, func(v []*Var) *Var { return Mul(v[0], v[1]) }},
		{"mul/same-var", []in{rnd(3, 4)}, func(v []*Var) *Var { return Mul(v[0], v[0]) }},
		{"div/broadcast", []in{rnd(2, 3), pos(3)}, func(v []*Var) *Var { return Div(v[0], v[1]) }},
		{"div/frozen-num", []in{constIn(2, 3), pos(2, 3)}, func(v []*Var) *Var { return Div(v[0], v[1]) }},
		{"neg", []in{rnd(2, 3)}, func(v []*Var) *Var { return Neg(v[0]) }},
		{"add_scalar", []in{rnd(2, 3)}, func(v []*Var) *Var { return AddScalar(v[0], 0.7) }},
		{"mul_scalar", []in{rnd(2, 3)}, func(v []*Var) *Var { return MulScalar(v[0], -1.5) }},
		// matmul.go
		{"matmul", []in{rnd(3, 4), rnd(4, 5)}, func(v []*Var) *Var { return MatMul(v[0], v[1]) }},
		{"matmul/batched", []in{rnd(2, 3, 4), rnd(2, 4, 5)}, func(v []*Var) *Var { return MatMul(v[0], v[1]) }},
		{"matmul/broadcast-b", []in{rnd(2, 3, 4), rnd(4, 5)}, func(v []*Var) *Var { return MatMul(v[0], v[1]) }},
		{"matmul/broadcast-both", []in{rnd(2, 1, 3, 4), rnd(3, 4, 2)}, func(v []*Var) *Var { return MatMul(v[0], v[1]) }},
		{"matmul/frozen-b", []in{rnd(3, 4), constIn(4, 5)}, func(v []*Var) *Var { return MatMul(v[0], v[1]) }},
		{"matmul_t/nn", []in{rnd(2, 3, 4), rnd(2, 4, 5)}, func(v []*Var) *Var { return MatMulT(v[0], v[1], false, false) }},
		{"matmul_t/tn", []in{rnd(2, 4, 3), rnd(2, 4, 5)}, func(v []*Var) *Var { return MatMulT(v[0], v[1], true, false) }},
		{"matmul_t/nt", []in{rnd(2, 3, 4), rnd(5, 4)}, func(v []*Var) *Var { return MatMulT(v[0], v[1], false, true) }},
		{"matmul_t/tt", []in{rnd(4, 3), rnd(2, 5, 4)}, func(v []*Var) *Var { return MatMulT(v[0], v[1], true, true) }},
		{"linear", []in{rnd(2, 3, 4), rnd(5, 4), rnd(5)}, func(v []*Var) *Var { return Linear(v[0], v[1], v[2]) }},
		{"linear/no-bias-1d", []in{rnd(4), rnd(5, 4)}, func(v []*Var) *Var { return Linear(v[0], v[1], nil) }},
		{"linear/frozen-w", []in{rnd(3, 4), constIn(5, 4), constIn(5)}, func(v []*Var) *Var { return Linear(v[0], v[1], v[2]) }},
		{"linear/frozen-x", []in{constIn(3, 4), rnd(5, 4), rnd(5)}, func(v []*Var) *Var { return Linear(v[0], v[1], v[2]) }},
		// reduce.go
		{"sum/axis", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Sum(v[0], []int{1}, false) }},
		{"sum/axes-keep", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Sum(v[0], []int{0, -1}, true) }},
		{"sum/all", []in{rnd(2, 3)}, func(v []*Var) *Var { return Sum(v[0], nil, false) }},
		{"mean/axis", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Mean(v[0], []int{-1}, false) }},
		{"mean/axes-keep", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Mean(v[0], []int{0, 2}, true) }},
		{"mean/all", []in{rnd(2, 3)}, func(v []*Var) *Var { return Mean(v[0], nil, false) }},
		// shape.go
		{"reshape", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Reshape(v[0], 4, -1) }},
		{"reshape/of-transpose", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Reshape(Transpose(v[0], 0, 2), 12, 2) }},
		{"permute", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Permute(v[0], 2, 0, 1) }},
		{"transpose", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Transpose(v[0], -1, 0) }},
		{"expand", []in{rnd(3, 1)}, func(v []*Var) *Var { return Expand(v[0], 2, 3, 4) }},
		{"unsqueeze-squeeze", []in{rnd(2, 3)}, func(v []*Var) *Var { return Mul(Squeeze(Unsqueeze(v[0], 1), 1), v[0]) }},
		{"concat", []in{rnd(2, 1, 3), constIn(2, 2, 3), rnd(2, 3, 3)}, func(v []*Var) *Var { return Concat(v, 1) }},
		{"stack", []in{rnd(2, 3), rnd(2, 3)}, func(v []*Var) *Var { return Stack(v, -1) }},
		{"slice", []in{rnd(2, 5, 3)}, func(v []*Var) *Var { return Slice(v[0], 1, 1, 4) }},
		{"slice/last", []in{rnd(2, 5)}, func(v []*Var) *Var { return Slice(v[0], -1, 3, 5) }},
		// index.go
		{"index_select/embedding", []in{rnd(5, 3)}, func(v []*Var) *Var { return IndexSelect(v[0], 0, []int{4, 0, 4, 2}) }},
		{"index_select/dim1", []in{rnd(2, 4, 3)}, func(v []*Var) *Var { return IndexSelect(v[0], 1, []int{3, 3, 1}) }},
		{"gather_rows", []in{rnd(3, 4, 2)}, func(v []*Var) *Var { return GatherRows(v[0], []int{3, 0, 2}) }},
		// activation.go
		{"exp", []in{rnd(2, 3)}, func(v []*Var) *Var { return Exp(v[0]) }},
		{"log", []in{pos(2, 3)}, func(v []*Var) *Var { return Log(v[0]) }},
		{"sqrt", []in{pos(2, 3)}, func(v []*Var) *Var { return Sqrt(v[0]) }},
		{"tanh", []in{rnd(2, 3)}, func(v []*Var) *Var { return Tanh(v[0]) }},
		{"sigmoid", []in{rnd(2, 3)}, func(v []*Var) *Var { return Sigmoid(v[0]) }},
		{"relu", []in{kinkless(3, 4)}, func(v []*Var) *Var { return Relu(v[0]) }},
		{"quick_gelu", []in{rnd(3, 4)}, func(v []*Var) *Var { return QuickGELU(v[0]) }},
		// softmax.go
		{"softmax/last", []in{rnd(2, 3, 4)}, func(v []*Var) *Var { return Softmax(v[0], -1) }},
		{"softmax/axis0", []in{rnd(3, 4)}, func(v []*Var) *Var { return Softmax(v[0], 0) }},
		{"log_softmax/last", []in{rnd(3, 5)}, func(v []*Var) *Var { return LogSoftmax(v[0], -1) }},
		{"log_softmax/axis1", []in{rnd(2, 3, 2)}, func(v []*Var) *Var { return LogSoftmax(v[0], 1) }},
		// layernorm.go
		{"layer_norm", []in{rnd(2, 3, 5), rnd(5), rnd(5)}, func(v []*Var) *Var { return LayerNorm(v[0], v[1], v[2], 1e-5) }},
		{"layer_norm/no-affine", []in{rnd(4, 6)}, func(v []*Var) *Var { return LayerNorm(v[0], nil, nil, 1e-5) }},
		{"layer_norm/frozen-affine", []in{rnd(3, 4), constIn(4), constIn(4)}, func(v []*Var) *Var { return LayerNorm(v[0], v[1], v[2], 1e-5) }},
		{"layer_norm/params-only", []in{constIn(3, 4), rnd(4), rnd(4)}, func(v []*Var) *Var { return LayerNorm(v[0], v[1], v[2], 1e-5) }},
		{"l2_normalize/last", []in{rnd(3, 4)}, func(v []*Var) *Var { return L2Normalize(v[0], -1, 1e-12) }},
		{"l2_normalize/axis0", []in{rnd(3, 4)}, func(v []*Var) *Var { return L2Normalize(v[0], 0, 1e-12) }},
		{"l2_normalize/clamped", []in{{shape: []int{2, 3}, fill: tiny}}, func(v []*Var) *Var { return L2Normalize(v[0], -1, 1) }},
		// attention.go
		{"attention", []in{rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 3)}, func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], false, nil) }},
		{"attention/causal", []in{rnd(2, 2, 4, 3), rnd(2, 2, 4, 3), rnd(2, 2, 4, 2)}, func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], true, nil) }},
		{"attention/causal-lq<lk", []in{rnd(3, 4), rnd(5, 4), rnd(5, 2)}, func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], true, nil) }},
		{"attention/frozen-kv", []in{rnd(2, 3, 4), constIn(2, 3, 4), constIn(2, 3, 4)}, func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], true, nil) }},
		{"attention/frozen-q", []in{constIn(3, 4), rnd(3, 4), rnd(3, 4)}, func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], false, nil) }},
		{"attention_probs", []in{rnd(2, 3, 4), rnd(2, 5, 4)}, func(v []*Var) *Var { return AttentionProbs(v[0], v[1], false) }},
		{"attention_probs/causal", []in{rnd(2, 2, 4, 3), rnd(2, 2, 4, 3)}, func(v []*Var) *Var { return AttentionProbs(v[0], v[1], true) }},
		{"attention_probs/frozen-k", []in{rnd(3, 4), constIn(3, 4)}, func(v []*Var) *Var { return AttentionProbs(v[0], v[1], true) }},
		// packed_attention.go (sequences in packedFixture: a prefix shared by three, one alone)
		{"packed_attention", []in{rnd(10, 2, 3), rnd(10, 2, 3), rnd(10, 2, 3)}, func(v []*Var) *Var { return PackedAttention(v[0], v[1], v[2], packedFixture, nil) }},
		{"packed_attention/frozen-kv", []in{rnd(10, 2, 3), constIn(10, 2, 3), constIn(10, 2, 3)}, func(v []*Var) *Var { return PackedAttention(v[0], v[1], v[2], packedFixture, nil) }},
		{"packed_attention/frozen-q", []in{constIn(10, 1, 4), rnd(10, 1, 4), rnd(10, 1, 4)}, func(v []*Var) *Var { return PackedAttention(v[0], v[1], v[2], packedFixture, nil) }},
		// loss.go
		{"cross_entropy", []in{rnd(4, 5)}, func(v []*Var) *Var { return CrossEntropy(v[0], []int{1, 4, 0, 1}) }},
		{"cross_entropy/composed", []in{rnd(3, 4)}, func(v []*Var) *Var { return CrossEntropy(MulScalar(L2Normalize(v[0], -1, 1e-12), 5), []int{3, 0, 2}) }},
	}
}

func TestGradCheck(t *testing.T) {
	for i, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) {
			worst, err := gradCheck(c, uint64(1000+i))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("worst error %.3g× tolerance", worst)
		})
	}
}

// randInput draws one input as described.
func randInput(rng *tensor.RNG, d in) *tensor.Tensor {
	switch d.fill {
	case positive:
		return rng.Uniform(0.5, 2, d.shape...)
	case awayZero:
		return tensor.Map(rng.Normal(0, 1, d.shape...), func(v float32) float32 {
			if v >= 0 {
				return v + 0.2
			}
			return v - 0.2
		})
	case tiny:
		return rng.Normal(0, 1e-3, d.shape...)
	}
	return rng.Normal(0, 1, d.shape...)
}

// gradCheck runs one case: GradCheck over its inputs that require grad,
// after checking that a Backward leaves no gradient on its frozen ones.
func gradCheck(c gradCase, seed uint64) (worst float64, err error) {
	rng := tensor.NewRNG(seed)
	vs := make([]*Var, len(c.ins))
	var trainable []*Var
	for i, d := range c.ins {
		vs[i] = NewVar(randInput(rng, d).Contiguous(), !d.frozen)
		if !d.frozen {
			trainable = append(trainable, vs[i])
		}
	}
	out := c.f(vs)
	out.BackwardWith(rng.Normal(0, 1, out.Shape()...))
	for i, v := range vs {
		if c.ins[i].frozen && v.Grad != nil {
			return 0, fmt.Errorf("frozen input %d got a gradient", i)
		}
		v.ZeroGrad()
	}
	return GradCheck(func() *Var { return c.f(vs) }, trainable, GradCheckOptions{Seed: seed})
}
