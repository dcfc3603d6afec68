package autograd

import "github.com/gocoop/gocoop/tensor"

// Elementwise arithmetic with NumPy broadcasting. The adjoint of
// broadcasting is summation: tensor.SumTo reduces each input's gradient back
// to the input's shape.

// Add returns a + b.
func Add(a, b *Var) *Var {
	return newOp("add", tensor.Add(a.Value, b.Value), func(g *tensor.Tensor) {
		if a.requiresGrad {
			a.accumulate(tensor.SumTo(g, a.Value.Shape()))
		}
		if b.requiresGrad {
			b.accumulate(tensor.SumTo(g, b.Value.Shape()))
		}
	}, a, b)
}

// Sub returns a − b.
func Sub(a, b *Var) *Var {
	return newOp("sub", tensor.Sub(a.Value, b.Value), func(g *tensor.Tensor) {
		if a.requiresGrad {
			a.accumulate(tensor.SumTo(g, a.Value.Shape()))
		}
		if b.requiresGrad {
			b.accumulate(tensor.Neg(tensor.SumTo(g, b.Value.Shape())))
		}
	}, a, b)
}

// Mul returns a ⊙ b.
func Mul(a, b *Var) *Var {
	return newOp("mul", tensor.Mul(a.Value, b.Value), func(g *tensor.Tensor) {
		if a.requiresGrad {
			a.accumulate(tensor.SumTo(tensor.Mul(g, b.Value), a.Value.Shape()))
		}
		if b.requiresGrad {
			b.accumulate(tensor.SumTo(tensor.Mul(g, a.Value), b.Value.Shape()))
		}
	}, a, b)
}

// Div returns a / b.
func Div(a, b *Var) *Var {
	out := tensor.Div(a.Value, b.Value)
	return newOp("div", out, func(g *tensor.Tensor) {
		if a.requiresGrad { // ∂/∂a = 1/b
			a.accumulate(tensor.SumTo(tensor.Div(g, b.Value), a.Value.Shape()))
		}
		if b.requiresGrad { // ∂/∂b = −a/b² = −out/b
			gb := tensor.Neg(tensor.Div(tensor.Mul(g, out), b.Value))
			b.accumulate(tensor.SumTo(gb, b.Value.Shape()))
		}
	}, a, b)
}

// Neg returns −a.
func Neg(a *Var) *Var {
	return newOp("neg", tensor.Neg(a.Value), func(g *tensor.Tensor) {
		a.accumulate(tensor.Neg(g))
	}, a)
}

// AddScalar returns a + s.
func AddScalar(a *Var, s float32) *Var {
	return newOp("add_scalar", tensor.AddScalar(a.Value, s), func(g *tensor.Tensor) {
		a.accumulate(g)
	}, a)
}

// MulScalar returns s·a.
func MulScalar(a *Var, s float32) *Var {
	return newOp("mul_scalar", tensor.MulScalar(a.Value, s), func(g *tensor.Tensor) {
		a.accumulate(tensor.MulScalar(g, s))
	}, a)
}
