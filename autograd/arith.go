package autograd

import "github.com/gocoop/gocoop/tensor"

// Elementwise arithmetic with NumPy broadcasting. The adjoint of
// broadcasting is summation: tensor.SumTo reduces each input's gradient back
// to the input's shape.

// Add returns a + b.
func Add(a, b *Var) *Var {
	na, nb := a.node, b.node
	return newOp("add", tensor.Add(a.Value, b.Value), func(g *tensor.Tensor) {
		if na.requiresGrad {
			na.accumulate(tensor.SumTo(g, na.shape))
		}
		if nb.requiresGrad {
			nb.accumulate(tensor.SumTo(g, nb.shape))
		}
	}, a, b)
}

// Sub returns a − b.
func Sub(a, b *Var) *Var {
	na, nb := a.node, b.node
	return newOp("sub", tensor.Sub(a.Value, b.Value), func(g *tensor.Tensor) {
		if na.requiresGrad {
			na.accumulate(tensor.SumTo(g, na.shape))
		}
		if nb.requiresGrad {
			nb.accumulate(tensor.Neg(tensor.SumTo(g, nb.shape)))
		}
	}, a, b)
}

// Mul returns a ⊙ b.
func Mul(a, b *Var) *Var {
	na, nb, av, bv := a.node, b.node, a.Value, b.Value
	return newOp("mul", tensor.Mul(av, bv), func(g *tensor.Tensor) {
		if na.requiresGrad {
			na.accumulate(tensor.SumTo(tensor.Mul(g, bv), na.shape))
		}
		if nb.requiresGrad {
			nb.accumulate(tensor.SumTo(tensor.Mul(g, av), nb.shape))
		}
	}, a, b)
}

// Div returns a / b.
func Div(a, b *Var) *Var {
	na, nb, bv := a.node, b.node, b.Value
	out := tensor.Div(a.Value, bv)
	return newOp("div", out, func(g *tensor.Tensor) {
		if na.requiresGrad { // ∂/∂a = 1/b
			na.accumulate(tensor.SumTo(tensor.Div(g, bv), na.shape))
		}
		if nb.requiresGrad { // ∂/∂b = −a/b² = −out/b
			gb := tensor.Neg(tensor.Div(tensor.Mul(g, out), bv))
			nb.accumulate(tensor.SumTo(gb, nb.shape))
		}
	}, a, b)
}

// Neg returns −a.
func Neg(a *Var) *Var {
	na := a.node
	return newOp("neg", tensor.Neg(a.Value), func(g *tensor.Tensor) {
		na.accumulate(tensor.Neg(g))
	}, a)
}

// AddScalar returns a + s.
func AddScalar(a *Var, s float32) *Var {
	na := a.node
	return newOp("add_scalar", tensor.AddScalar(a.Value, s), func(g *tensor.Tensor) {
		na.accumulate(g)
	}, a)
}

// MulScalar returns s·a.
func MulScalar(a *Var, s float32) *Var {
	na := a.node
	return newOp("mul_scalar", tensor.MulScalar(a.Value, s), func(g *tensor.Tensor) {
		na.accumulate(tensor.MulScalar(g, s))
	}, a)
}
