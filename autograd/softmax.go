package autograd

import "github.com/gocoop/gocoop/tensor"

// Softmax along axis: y = eˣ / Σeˣ; dx = y ⊙ (g − Σ(g ⊙ y)) with the sum
// along axis.
func Softmax(a *Var, axis int) *Var {
	out, na := tensor.Softmax(a.Value, axis), a.node
	return newOp("softmax", out, func(g *tensor.Tensor) {
		na.accumulate(softmaxBackward(out, g, axis))
	}, a)
}

// softmaxBackward returns y ⊙ (g − Σ_axis(g ⊙ y)), the vector-Jacobian
// product of softmax given its output y (shared with attention).
func softmaxBackward(y, g *tensor.Tensor, axis int) *tensor.Tensor {
	dot := tensor.Sum(tensor.Mul(g, y), []int{axis}, true)
	return tensor.Mul(y, tensor.Sub(g, dot))
}

// LogSoftmax along axis: y = x − log Σeˣ; dx = g − eʸ ⊙ Σ g with the sum
// along axis.
func LogSoftmax(a *Var, axis int) *Var {
	out, na := tensor.LogSoftmax(a.Value, axis), a.node
	return newOp("log_softmax", out, func(g *tensor.Tensor) {
		sum := tensor.Sum(g, []int{axis}, true)
		na.accumulate(tensor.Sub(g, tensor.Mul(tensor.Exp(out), sum)))
	}, a)
}
