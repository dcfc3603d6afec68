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
	// Each gradient needs the other operand only: keep a's value only if
	// b requires grad and b's only if a does.
	na, nb := a.node, b.node
	var av, bv *tensor.Tensor
	if a.requiresGrad {
		bv = b.Value
	}
	if b.requiresGrad {
		av = a.Value
	}
	return newOp(name, tensor.MatMulT(a.Value, b.Value, transA, transB), func(g *tensor.Tensor) {
		if na.requiresGrad && bv != nil {
			var ga *tensor.Tensor
			if transA { // dA = (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ
				ga = tensor.MatMulT(bv, g, transB, true)
			} else { // dA = G·op(B)ᵀ
				ga = tensor.MatMulT(g, bv, false, !transB)
			}
			na.accumulate(tensor.SumTo(ga, na.shape))
		}
		if nb.requiresGrad && av != nil {
			var gb *tensor.Tensor
			if transB { // dB = (op(A)ᵀ·G)ᵀ = Gᵀ·op(A)
				gb = tensor.MatMulT(g, av, true, transA)
			} else { // dB = op(A)ᵀ·G
				gb = tensor.MatMulT(av, g, !transA, false)
			}
			nb.accumulate(tensor.SumTo(gb, nb.shape))
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
		if onDevice(y) {
			y = tensor.Add(y, b.Value)
		} else {
			y.AddInPlace(b.Value)
		}
	}
	outShape := append(xs[:len(xs)-1:len(xs)-1], nOut) // [..., out]
	// The backward keeps w only for dx and x only for dw: a frozen Linear
	// on a trainable input does not keep its input alive.
	nx, nw, wv := x.node, w.node, w.Value
	var xk *tensor.Tensor
	if w.requiresGrad {
		xk = x2
	}
	var nb *node
	if b != nil {
		nb = b.node
	}
	return newOp("linear", y.Reshape(outShape...), func(g *tensor.Tensor) {
		g2 := g.Reshape(rows, nOut)
		if nx.requiresGrad { // dx = g·w
			nx.accumulate(tensor.MatMulT(g2, wv, false, false).Reshape(xs...))
		}
		if nw.requiresGrad && xk != nil { // dw = gᵀ·x
			nw.accumulate(tensor.MatMulT(g2, xk, true, false))
		}
		if nb != nil && nb.requiresGrad { // db = Σ_rows g
			nb.accumulate(tensor.Sum(g2, []int{0}, false))
		}
	}, x, w, b)
}
