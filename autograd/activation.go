package autograd

import (
	"math"

	"github.com/gocoop/gocoop/tensor"
)

// Elementwise functions. Where the derivative is a function of the output
// (exp, sqrt, tanh, sigmoid), backward reuses the forward's result.

// Exp returns eˣ; d/dx = eˣ.
func Exp(a *Var) *Var {
	out := tensor.Exp(a.Value)
	return newOp("exp", out, func(g *tensor.Tensor) {
		a.accumulate(tensor.Mul(g, out))
	}, a)
}

// Log returns ln x; d/dx = 1/x.
func Log(a *Var) *Var {
	return newOp("log", tensor.Log(a.Value), func(g *tensor.Tensor) {
		a.accumulate(tensor.Div(g, a.Value))
	}, a)
}

// Sqrt returns √x; d/dx = 1/(2√x).
func Sqrt(a *Var) *Var {
	out := tensor.Sqrt(a.Value)
	return newOp("sqrt", out, func(g *tensor.Tensor) {
		a.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * 0.5 / y[i]
			}
		}))
	}, a)
}

// Tanh returns tanh x; d/dx = 1 − tanh²x.
func Tanh(a *Var) *Var {
	out := tensor.Tanh(a.Value)
	return newOp("tanh", out, func(g *tensor.Tensor) {
		a.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * (1 - y[i]*y[i])
			}
		}))
	}, a)
}

// Sigmoid returns σ(x) = 1/(1+e⁻ˣ); d/dx = σ(1−σ).
func Sigmoid(a *Var) *Var {
	out := tensor.Sigmoid(a.Value)
	return newOp("sigmoid", out, func(g *tensor.Tensor) {
		a.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * y[i] * (1 - y[i])
			}
		}))
	}, a)
}

// Relu returns max(x, 0); d/dx = 1 where x > 0, else 0.
func Relu(a *Var) *Var {
	return newOp("relu", tensor.Relu(a.Value), func(g *tensor.Tensor) {
		a.accumulate(zip(g, a.Value, func(dx, g, x []float32) {
			for i := range dx {
				dx[i] = 0
				if x[i] > 0 {
					dx[i] = g[i]
				}
			}
		}))
	}, a)
}

// quickGELUAlpha is CLIP's constant in x·σ(1.702x).
const quickGELUAlpha = 1.702

// QuickGELU returns x·σ(1.702x) (CLIP's activation);
// d/dx = σ(1.702x) + 1.702·x·σ(1.702x)·(1 − σ(1.702x)).
func QuickGELU(a *Var) *Var {
	out := mapTensor(a.Value, func(y, x []float32) {
		for i := range y {
			y[i] = x[i] * sigmoid32(quickGELUAlpha*x[i])
		}
	})
	return newOp("quick_gelu", out, func(g *tensor.Tensor) {
		a.accumulate(zip(g, a.Value, func(dx, g, x []float32) {
			for i := range dx {
				s := sigmoid32(quickGELUAlpha * x[i])
				dx[i] = g[i] * (s + quickGELUAlpha*x[i]*s*(1-s))
			}
		}))
	}, a)
}

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
