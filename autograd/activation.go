package autograd

import (
	"github.com/gocoop/gocoop/tensor"
)

// Elementwise functions. Where the derivative is a function of the output
// (exp, sqrt, tanh, sigmoid), backward reuses the forward's result.

// Exp returns eˣ; d/dx = eˣ.
func Exp(a *Var) *Var {
	out, na := tensor.Exp(a.Value), a.node
	return newOp("exp", out, func(g *tensor.Tensor) {
		na.accumulate(tensor.Mul(g, out))
	}, a)
}

// Log returns ln x; d/dx = 1/x.
func Log(a *Var) *Var {
	av, na := a.Value, a.node
	return newOp("log", tensor.Log(av), func(g *tensor.Tensor) {
		na.accumulate(tensor.Div(g, av))
	}, a)
}

// Sqrt returns y = √x; d/dx = 1/(2y). The backward, like Tanh's and
// Sigmoid's, is tensor ops on the output: it runs wherever the values live.
func Sqrt(a *Var) *Var {
	out, na := tensor.Sqrt(a.Value), a.node
	return newOp("sqrt", out, func(g *tensor.Tensor) {
		na.accumulate(tensor.Div(tensor.MulScalar(g, 0.5), out)) // g·0.5/y
	}, a)
}

// Tanh returns y = tanh x; d/dx = 1 − y².
func Tanh(a *Var) *Var {
	out, na := tensor.Tanh(a.Value), a.node
	return newOp("tanh", out, func(g *tensor.Tensor) {
		na.accumulate(tensor.Mul(g, tensor.AddScalar(tensor.Neg(tensor.Square(out)), 1))) // g·(1 − y²)
	}, a)
}

// Sigmoid returns y = σ(x) = 1/(1+e⁻ˣ); d/dx = y(1−y).
func Sigmoid(a *Var) *Var {
	out, na := tensor.Sigmoid(a.Value), a.node
	return newOp("sigmoid", out, func(g *tensor.Tensor) {
		na.accumulate(tensor.Mul(tensor.Mul(g, out), tensor.AddScalar(tensor.Neg(out), 1))) // g·y·(1 − y)
	}, a)
}

// Relu returns max(x, 0); d/dx = 1 where x > 0, else 0. On the CPU the
// backward writes g where x > 0 and +0 elsewhere, as PyTorch's
// threshold_backward (a NaN in g is dropped where x ≤ 0); on a device it
// is g·(x > 0) through the backend's kernels (−0 where g < 0, NaN kept).
func Relu(a *Var) *Var {
	av, na := a.Value, a.node
	return newOp("relu", tensor.Relu(av), func(g *tensor.Tensor) {
		if onDevice(g) {
			na.accumulate(tensor.Mul(g, tensor.GreaterThan(av, 0)))
			return
		}
		na.accumulate(zip(g, av, func(dx, g, x []float32) {
			for i := range dx {
				dx[i] = 0
				if x[i] > 0 {
					dx[i] = g[i]
				}
			}
		}))
	}, a)
}

// QuickGELU returns x·σ(1.702x) (CLIP's activation);
// d/dx = σ(1.702x) + 1.702·x·σ(1.702x)·(1 − σ(1.702x)).
//
// Forward and backward are tensor.QuickGELU and tensor.QuickGELUGrad: on
// the CPU fused row kernels (asm.QuickGELU, asm.QuickGELUGrad: σ from a
// vector exp, one pass over the elements), on a device the backend's. Only
// the input is kept for the backward, which recomputes σ.
func QuickGELU(a *Var) *Var {
	x, na := a.Value, a.node
	return newOp("quick_gelu", tensor.QuickGELU(x), func(g *tensor.Tensor) {
		na.accumulate(tensor.QuickGELUGrad(x, g))
	}, a)
}
