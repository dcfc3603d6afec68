package autograd

import "github.com/gocoop/gocoop/tensor"

// Shape ops move elements without arithmetic; each backward moves the
// gradient back the inverse way.

// Reshape returns a with a new shape of the same numel (one -1 allowed).
func Reshape(a *Var, shape ...int) *Var {
	in := a.Value.Shape()
	return newOp("reshape", a.Value.Reshape(shape...), func(g *tensor.Tensor) {
		a.accumulate(g.Reshape(in...))
	}, a)
}

// Permute reorders the dims of a: result dim i is a's dim dims[i].
func Permute(a *Var, dims ...int) *Var {
	inv := make([]int, len(dims))
	for i, d := range dims {
		inv[normAxis("Permute", d, len(dims))] = i
	}
	return newOp("permute", a.Value.Permute(dims...), func(g *tensor.Tensor) {
		a.accumulate(g.Permute(inv...))
	}, a)
}

// Transpose swaps dims d0 and d1 of a.
func Transpose(a *Var, d0, d1 int) *Var {
	return newOp("transpose", a.Value.Transpose(d0, d1), func(g *tensor.Tensor) {
		a.accumulate(g.Transpose(d0, d1))
	}, a)
}

// Expand broadcasts a to shape (NumPy rules, new dims on the left) without
// copying. Backward sums the gradient back to a's shape.
func Expand(a *Var, shape ...int) *Var {
	in := a.Value.Shape()
	return newOp("expand", a.Value.Expand(shape...), func(g *tensor.Tensor) {
		a.accumulate(tensor.SumTo(g, in))
	}, a)
}

// Unsqueeze inserts a dim of size 1 at dim.
func Unsqueeze(a *Var, dim int) *Var {
	shape := a.Value.Shape()
	d := normAxis("Unsqueeze", dim, len(shape)+1)
	shape = append(shape[:d:d], append([]int{1}, shape[d:]...)...)
	return Reshape(a, shape...)
}

// Squeeze removes dim, which must have size 1.
func Squeeze(a *Var, dim int) *Var {
	shape := a.Value.Shape()
	d := normAxis("Squeeze", dim, len(shape))
	if shape[d] != 1 {
		panic(&tensor.ShapeError{Op: "autograd.Squeeze", Shapes: [][]int{shape}, Msg: "squeezed dim must have size 1"})
	}
	return Reshape(a, append(shape[:d:d], shape[d+1:]...)...)
}

// Concat joins vs along dim; backward hands each input its slice of the
// gradient.
func Concat(vs []*Var, dim int) *Var {
	ts := make([]*tensor.Tensor, len(vs))
	for i, v := range vs {
		ts[i] = v.Value
	}
	out := tensor.Concat(ts, dim)
	d := normAxis("Concat", dim, out.NDim())
	return newOp("concat", out, func(g *tensor.Tensor) {
		off := 0
		for _, v := range vs {
			n := v.Value.Dim(d)
			if v.requiresGrad {
				v.accumulate(g.Slice(d, off, off+n))
			}
			off += n
		}
	}, vs...)
}

// Stack joins vs (all the same shape) along a new dim.
func Stack(vs []*Var, dim int) *Var {
	us := make([]*Var, len(vs))
	for i, v := range vs {
		us[i] = Unsqueeze(v, dim)
	}
	return Concat(us, dim)
}

// Slice takes [start, end) of a along dim; backward scatters the gradient
// into zeros of a's shape.
func Slice(a *Var, dim, start, end int) *Var {
	shape := a.Value.Shape()
	d := normAxis("Slice", dim, len(shape))
	return newOp("slice", a.Value.Slice(d, start, end), func(g *tensor.Tensor) {
		ga := tensor.Zeros(shape...)
		ga.Slice(d, start, end).CopyFrom(g)
		a.accumulate(ga)
	}, a)
}
