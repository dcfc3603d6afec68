package autograd

import (
	"math"

	"github.com/gocoop/gocoop/asm"
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

// Sqrt returns √x; d/dx = 1/(2√x).
func Sqrt(a *Var) *Var {
	out, na := tensor.Sqrt(a.Value), a.node
	return newOp("sqrt", out, func(g *tensor.Tensor) {
		na.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * 0.5 / y[i]
			}
		}))
	}, a)
}

// Tanh returns tanh x; d/dx = 1 − tanh²x.
func Tanh(a *Var) *Var {
	out, na := tensor.Tanh(a.Value), a.node
	return newOp("tanh", out, func(g *tensor.Tensor) {
		na.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * (1 - y[i]*y[i])
			}
		}))
	}, a)
}

// Sigmoid returns σ(x) = 1/(1+e⁻ˣ); d/dx = σ(1−σ).
func Sigmoid(a *Var) *Var {
	out, na := tensor.Sigmoid(a.Value), a.node
	return newOp("sigmoid", out, func(g *tensor.Tensor) {
		na.accumulate(zip(g, out, func(dx, g, y []float32) {
			for i := range dx {
				dx[i] = g[i] * y[i] * (1 - y[i])
			}
		}))
	}, a)
}

// Relu returns max(x, 0); d/dx = 1 where x > 0, else 0.
func Relu(a *Var) *Var {
	av, na := a.Value, a.node
	return newOp("relu", tensor.Relu(av), func(g *tensor.Tensor) {
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

// quickGELUAlpha is CLIP's constant in x·σ(1.702x).
const quickGELUAlpha = 1.702

// QuickGELU returns x·σ(1.702x) (CLIP's activation);
// d/dx = σ(1.702x) + 1.702·x·σ(1.702x)·(1 − σ(1.702x)).
//
// Forward and backward evaluate σ with the vectorized asm.ExpInPlace
// (quickGELUFwd, quickGELUBwd); quickGELUFwdRef and quickGELUBwdRef are the
// scalar float64 references they are tested against. Only the input is
// kept for the backward, which recomputes σ.
func QuickGELU(a *Var) *Var {
	x, na := a.Value.Contiguous(), a.node
	out := mapTensor(x, quickGELUFwd)
	return newOp("quick_gelu", out, func(g *tensor.Tensor) {
		na.accumulate(zip(g, x, quickGELUBwd))
	}, a)
}

// geluChunk is how many elements the QuickGELU kernels process per call of
// asm.ExpInPlace (a stack scratch of 4 KiB). A multiple of 16, so that the
// calls split a chunk of tensor.ParallelForVec at vector boundaries.
const geluChunk = 1024

// quickGELUFwd sets y[i] = x[i]·σ(1.702·x[i]) = x[i]/(1 + e^(−1.702·x[i])),
// using y as the scratch of the exponentials, a chunk at a time (kept in
// L1). e^(−1.702x) overflows to +Inf for very negative x, giving −0, and
// underflows to 0 for large x, giving x.
func quickGELUFwd(y, x []float32) {
	for lo := 0; lo < len(y); lo += geluChunk {
		hi := min(len(y), lo+geluChunk)
		yc, xc := y[lo:hi], x[lo:hi]
		for i, v := range xc {
			yc[i] = -quickGELUAlpha * v
		}
		asm.ExpInPlace(yc)
		for i, e := range yc {
			yc[i] = xc[i] / (1 + e)
		}
	}
}

// quickGELUBwd sets dx[i] = g[i]·(s + 1.702·x[i]·s·(1−s)), s = σ(1.702·x[i]),
// with 1−s computed as e·s (e = e^(−1.702x)), free of the cancellation
// 1−s suffers for large x.
func quickGELUBwd(dx, g, x []float32) {
	var buf [geluChunk]float32
	for lo := 0; lo < len(dx); lo += geluChunk {
		hi := min(len(dx), lo+geluChunk)
		s := buf[:hi-lo]
		xc := x[lo:hi]
		for i, v := range xc {
			s[i] = -quickGELUAlpha * v
		}
		asm.ExpInPlace(s) // e = e^(−1.702x); σ = 1/(1+e), 1−σ = e·σ
		gc, dc := g[lo:hi], dx[lo:hi]
		for i, e := range s {
			si := 1 / (1 + e)
			t := e * si // 1 − σ without cancellation
			if e > math.MaxFloat32 {
				t = 0 // x → −∞: σ = 0, e·σ = ∞·0
			}
			dc[i] = gc[i] * (si + quickGELUAlpha*xc[i]*si*t)
		}
	}
}

// quickGELUFwdRef is the scalar reference of quickGELUFwd (σ in float64).
func quickGELUFwdRef(y, x []float32) {
	for i := range y {
		y[i] = x[i] * sigmoid32(quickGELUAlpha*x[i])
	}
}

// quickGELUBwdRef is the scalar reference of quickGELUBwd (σ in float64).
func quickGELUBwdRef(dx, g, x []float32) {
	for i := range dx {
		s := sigmoid32(quickGELUAlpha * x[i])
		dx[i] = g[i] * (s + quickGELUAlpha*x[i]*s*(1-s))
	}
}

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
