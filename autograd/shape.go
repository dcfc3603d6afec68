package autograd

import "github.com/gocoop/gocoop/tensor"

// Shape ops move elements without arithmetic; each backward moves the
// gradient back the inverse way.

// Reshape returns a with a new shape of the same numel (one -1 allowed).
func Reshape(a *Var, shape ...int) *Var {
	in, na := a.Value.Shape(), a.node
	return newOp("reshape", a.Value.Reshape(shape...), func(g *tensor.Tensor) {
		na.accumulate(g.Reshape(in...))
	}, a)
}

// Permute reorders the dims of a: result dim i is a's dim dims[i].
func Permute(a *Var, dims ...int) *Var {
	inv := make([]int, len(dims))
	for i, d := range dims {
		inv[normAxis("Permute", d, len(dims))] = i
	}
	na := a.node
	return newOp("permute", a.Value.Permute(dims...), func(g *tensor.Tensor) {
		na.accumulate(g.Permute(inv...))
	}, a)
}

// Transpose swaps dims d0 and d1 of a.
func Transpose(a *Var, d0, d1 int) *Var {
	na := a.node
	return newOp("transpose", a.Value.Transpose(d0, d1), func(g *tensor.Tensor) {
		na.accumulate(g.Transpose(d0, d1))
	}, a)
}

// Expand broadcasts a to shape (NumPy rules, new dims on the left) without
// copying. Backward sums the gradient back to a's shape.
func Expand(a *Var, shape ...int) *Var {
	in, na := a.Value.Shape(), a.node
	return newOp("expand", a.Value.Expand(shape...), func(g *tensor.Tensor) {
		na.accumulate(tensor.SumTo(g, in))
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
	ns := make([]*node, len(vs))
	for i, v := range vs {
		ns[i] = v.node
	}
	return newOp("concat", out, func(g *tensor.Tensor) {
		off := 0
		for _, v := range ns {
			n := v.shape[d]
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

// Slice takes [start, end) of a along dim; backward adds the gradient into
// that slice of a's pending gradient (zeros elsewhere), so slicing a
// tensor into parts (q | k | v) costs one full-size gradient, not one per
// part.
func Slice(a *Var, dim, start, end int) *Var {
	shape := a.Value.Shape()
	d := normAxis("Slice", dim, len(shape))
	na := a.node
	return newOp("slice", a.Value.Slice(d, start, end), func(g *tensor.Tensor) {
		na.accumulateSlice(d, start, end, g)
	}, a)
}
