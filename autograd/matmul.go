package autograd

import "github.com/gocoop/gocoop/tensor"

// MatMul returns a·b for a [..., M, K] and b [..., K, N] with broadcast batch
// dims.
func MatMul(a, b *Var) *Var { return matMulT("matmul", a, b, false, false) }

// MatMulT returns op(a)·op(b), where op transposes the last two dims of its
// operand when the flag is set. No transpose is materialized, forward or
// backward.
func MatMulT(a, b *Var, transA, transB bool) *Var { return matMulT("matmul_t", a, b, transA, transB) }

// matMulT: C = op(A)·op(B), so dop(A) = G·op(B)ᵀ and dop(B) = op(A)ᵀ·G,
// each transposed back when the operand was; batch dims broadcast in the
// forward are summed away.
func matMulT(name string, a, b *Var, transA, transB bool) *Var {
	return newOp(name, tensor.MatMulT(a.Value, b.Value, transA, transB), func(g *tensor.Tensor) {
		if a.requiresGrad {
			var ga *tensor.Tensor
			if transA { // dA = (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ
				ga = tensor.MatMulT(b.Value, g, transB, true)
			} else { // dA = G·op(B)ᵀ
				ga = tensor.MatMulT(g, b.Value, false, !transB)
			}
			a.accumulate(tensor.SumTo(ga, a.Value.Shape()))
		}
		if b.requiresGrad {
			var gb *tensor.Tensor
			if transB { // dB = (op(A)ᵀ·G)ᵀ = Gᵀ·op(A)
				gb = tensor.MatMulT(g, a.Value, true, transA)
			} else { // dB = op(A)ᵀ·G
				gb = tensor.MatMulT(a.Value, g, !transA, false)
			}
			b.accumulate(tensor.SumTo(gb, b.Value.Shape()))
		}
	}, a, b)
}

// Linear computes x·wᵀ + b with w [out,in] as PyTorch; b may be nil. x [..., in].
// The leading dims of x are folded into one, so forward and both weight
// gradients are single GEMMs.
func Linear(x, w, b *Var) *Var {
	xs, ws := x.Value.Shape(), w.Value.Shape()
	if len(ws) != 2 || len(xs) == 0 || xs[len(xs)-1] != ws[1] {
		panic(&tensor.ShapeError{Op: "autograd.Linear", Shapes: [][]int{xs, ws}, Msg: "want x [..., in] and w [out, in]"})
	}
	in, nOut := ws[1], ws[0]
	if b != nil && (b.Value.NDim() != 1 || b.Value.Dim(0) != nOut) {
		panic(&tensor.ShapeError{Op: "autograd.Linear", Shapes: [][]int{ws, b.Value.Shape()}, Msg: "want bias [out]"})
	}
	rows := x.Value.Numel() / in
	x2 := x.Value.Reshape(rows, in)               // [N, in]
	y := tensor.MatMulT(x2, w.Value, false, true) // [N, out]
	if b != nil {
		y.AddInPlace(b.Value)
	}
	outShape := append(xs[:len(xs)-1:len(xs)-1], nOut) // [..., out]
	return newOp("linear", y.Reshape(outShape...), func(g *tensor.Tensor) {
		g2 := g.Reshape(rows, nOut)
		if x.requiresGrad { // dx = g·w
			x.accumulate(tensor.MatMulT(g2, w.Value, false, false).Reshape(xs...))
		}
		if w.requiresGrad { // dw = gᵀ·x
			w.accumulate(tensor.MatMulT(g2, x2, true, false))
		}
		if b != nil && b.requiresGrad { // db = Σ_rows g
			b.accumulate(tensor.Sum(g2, []int{0}, false))
		}
	}, x, w, b)
}
