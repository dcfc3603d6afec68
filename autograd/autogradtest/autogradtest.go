// Package autogradtest holds the device-against-CPU check of autograd's
// ops (Ops) and the machinery it runs on (Case, Run), which nn/nntest
// reuses for nn's modules. The checks run on the fake device of
// tensor/devicetest in autograd's tests and on the GPU in the CUDA test
// binary of bench/cuda; the comparisons are tensor/devicetest's Compare.
package autogradtest

import (
	"fmt"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// Case is a computation of its inputs (all trainable leaves).
type Case struct {
	Name string
	In   []*tensor.Tensor
	F    func(in []*autograd.Var) *autograd.Var
	// Twice seeds the output's gradient twice: the leaves' gradients
	// accumulate over the two passes.
	Twice bool
}

// run builds the graph of c on dev from copies of its inputs, seeds the
// output's gradient with seed (twice when c.Twice) and returns the output
// value and the inputs' gradients.
func (c Case) run(t testing.TB, dev tensor.Device, seed *tensor.Tensor) (*tensor.Tensor, []*tensor.Tensor) {
	t.Helper()
	vars := make([]*autograd.Var, len(c.In))
	for i, x := range c.In {
		vars[i] = autograd.Param(devicetest.To(t, x.Clone(), dev))
	}
	var out *autograd.Var
	if err := tensor.Try(func() {
		out = c.F(vars)
		s := devicetest.To(t, seed, dev)
		out.BackwardWith(s)
		if c.Twice {
			out.BackwardWith(s)
		}
	}); err != nil {
		t.Fatalf("%s on %v: %v", c.Name, dev, err)
	}
	grads := make([]*tensor.Tensor, len(vars))
	for i, v := range vars {
		grads[i] = v.Grad
	}
	return out.Value, grads
}

// Run runs every case forward and backward (a random upstream gradient) on
// dev and on the CPU from the same inputs, and compares the values and
// every input's gradient within rel.
func Run(t testing.TB, dev tensor.Device, rel float64, cases []Case) {
	t.Helper()
	for _, c := range cases {
		var shape []int
		if err := tensor.Try(func() { shape = c.F(constants(c.In)).Shape() }); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		seed := devicetest.Randn(99, shape...)
		want, wantG := c.run(t, tensor.CPU, seed)
		got, gotG := c.run(t, dev, seed)
		devicetest.OnDevice(t, c.Name, got, dev)
		devicetest.Compare(t, c.Name, got, want, rel)
		for i := range wantG {
			devicetest.Compare(t, fmt.Sprint(c.Name, " ∂in", i), gotG[i], wantG[i], rel)
		}
	}
}

// constants wraps the inputs as frozen leaves (to learn the output shape).
func constants(in []*tensor.Tensor) []*autograd.Var {
	out := make([]*autograd.Var, len(in))
	for i, x := range in {
		out[i] = autograd.Constant(x)
	}
	return out
}

// Ops runs autograd's ops forward and backward on dev and on the CPU from
// the same inputs (Run): the elementwise ops with broadcasting, the
// activations, the reductions, the views (reshape, transpose, expand,
// permute, slices, concatenation), the products, Linear (gradients
// accumulated over two passes), LayerNorm, the softmaxes, attention (and
// the packed attention of shared prefixes), cross-entropy, L2Normalize
// with a clamped row and the gathers; each within rel.
func Ops(t testing.TB, dev tensor.Device, rel float64) {
	t.Helper()
	pos := tensor.AddScalar(tensor.Square(devicetest.Randn(2, 6, 8)), 0.5)
	zeroRow := devicetest.Randn(3, 4, 8)
	zeroRow.Slice(0, 2, 3).Fill(0) // a row whose norm L2Normalize clamps
	Run(t, dev, rel, []Case{
		{Name: "Add, Sub, Mul, Div (broadcast)", In: []*tensor.Tensor{devicetest.Randn(1, 4, 6, 8), pos}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Div(autograd.Mul(autograd.Sub(autograd.Add(v[0], v[1]), v[1]), v[0]), v[1])
		}},
		{Name: "Neg, MulScalar, AddScalar, Exp, Log", In: []*tensor.Tensor{devicetest.Randn(4, 6, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Log(autograd.AddScalar(autograd.Exp(autograd.MulScalar(autograd.Neg(v[0]), 0.5)), 1))
		}},
		{Name: "Sqrt, Tanh, Sigmoid, Relu", In: []*tensor.Tensor{devicetest.Randn(27, 4, 6, 8), pos}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.Mul(autograd.Tanh(v[0]), autograd.Sqrt(v[1])), autograd.Mul(autograd.Sigmoid(v[0]), autograd.Relu(v[0])))
		}},
		{Name: "Sum, Mean (keepdim, broadcast)", In: []*tensor.Tensor{devicetest.Randn(5, 4, 6, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.Sum(v[0], []int{1}, true), autograd.Mean(v[0], []int{0, 2}, true))
		}},
		{Name: "Reshape, Transpose, Expand, Permute", In: []*tensor.Tensor{devicetest.Randn(6, 4, 6, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			x := autograd.Transpose(autograd.Reshape(v[0], 24, 8), 0, 1)                          // [8, 24]
			x = autograd.Expand(autograd.Unsqueeze(x, 0), 3, 8, 24)                               // [3, 8, 24]
			return autograd.Squeeze(autograd.Reshape(autograd.Permute(x, 2, 0, 1), 1, 24, 24), 0) // [24, 24]
		}},
		{Name: "Concat, Slice (q | k | v)", In: []*tensor.Tensor{devicetest.Randn(7, 4, 6, 12)}, F: func(v []*autograd.Var) *autograd.Var {
			q, k, w := autograd.Slice(v[0], 2, 0, 4), autograd.Slice(v[0], 2, 4, 8), autograd.Slice(v[0], 2, 8, 12)
			return autograd.Concat([]*autograd.Var{autograd.Add(autograd.Mul(q, k), w), autograd.Slice(v[0], 2, 2, 6)}, 2)
		}},
		{Name: "MatMul, MatMulT (batched, transposed)", In: []*tensor.Tensor{devicetest.Randn(8, 4, 6, 8), devicetest.Randn(9, 8, 5), devicetest.Randn(10, 4, 7, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			ab := autograd.MatMul(v[0], v[1])               // [4, 6, 5]
			ac := autograd.MatMulT(v[0], v[2], false, true) // [4, 6, 7]
			return autograd.MatMulT(ab, ac, true, false)    // [4, 5, 7]
		}},
		{Name: "Linear", In: []*tensor.Tensor{devicetest.Randn(11, 4, 6, 8), devicetest.Randn(12, 5, 8), devicetest.Randn(13, 5)}, Twice: true, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Linear(v[0], v[1], v[2])
		}},
		{Name: "LayerNorm (affine, and none)", In: []*tensor.Tensor{devicetest.Randn(14, 4, 6, 8), devicetest.Randn(15, 8), devicetest.Randn(16, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.LayerNorm(v[0], v[1], v[2], 1e-5), autograd.LayerNorm(v[0], nil, nil, 1e-5))
		}},
		{Name: "Softmax, LogSoftmax", In: []*tensor.Tensor{devicetest.Randn(17, 4, 6, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.Softmax(v[0], -1), autograd.LogSoftmax(v[0], -1))
		}},
		{Name: "ScaledDotProductAttention", In: []*tensor.Tensor{devicetest.Randn(18, 2, 3, 7, 8), devicetest.Randn(19, 2, 3, 9, 8), devicetest.Randn(20, 2, 3, 9, 5)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.ScaledDotProductAttention(v[0], v[1], v[2], false, nil)
		}},
		{Name: "AttentionProbs (causal)", In: []*tensor.Tensor{devicetest.Randn(21, 2, 3, 7, 8), devicetest.Randn(22, 2, 3, 7, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.AttentionProbs(v[0], v[1], true)
		}},
		{Name: "CrossEntropy", In: []*tensor.Tensor{devicetest.Randn(23, 5, 9)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.CrossEntropy(v[0], []int{0, 8, 3, 3, 5})
		}},
		{Name: "L2Normalize (a clamped row)", In: []*tensor.Tensor{zeroRow}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.L2Normalize(v[0], -1, 1e-12)
		}},
		{Name: "IndexSelect, GatherRows (repeats)", In: []*tensor.Tensor{devicetest.Randn(24, 10, 6), devicetest.Randn(25, 3, 5, 6)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.Add(autograd.IndexSelect(v[0], 0, []int{3, 3, 0}), autograd.GatherRows(v[1], []int{0, 4, 4}))
		}},
		{Name: "PackedAttention (a shared prefix, rows out of order)", In: []*tensor.Tensor{devicetest.Randn(28, 10, 2, 8), devicetest.Randn(29, 10, 2, 8), devicetest.Randn(30, 10, 2, 8)}, F: func(v []*autograd.Var) *autograd.Var {
			return autograd.PackedAttention(v[0], v[1], v[2], packedSeqs, nil)
		}},
	})
}

// packedSeqs packs 10 rows: a prefix (rows 7, 2) owned by the first
// sequence and shared by three of different lengths, and one alone.
var packedSeqs = []autograd.PackedSeq{
	{Rows: []int{7, 2}},
	{Rows: []int{7, 2, 0, 5}, Own: 2},
	{Rows: []int{7, 2, 9}, Own: 2},
	{Rows: []int{7, 2, 1, 4, 8}, Own: 2},
	{Rows: []int{3, 6}},
}
