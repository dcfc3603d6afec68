//go:build cuda

package cuda

import (
	"math"

	"github.com/gocoop/gocoop/tensor"
)

// The CPU definitions of the backend's own ops (Backend.SoftmaxBackward,
// Attention, AttentionBackward), in tensor ops, as autograd computes them
// (autograd.Softmax, LogSoftmax, AttentionProbs, ScaledDotProductAttention).

// softmaxBackward is the gradient along the last axis given the output y
// and the upstream gradient dy: for y = softmax(x), dx = y ⊙ (dy − Σ dy ⊙ y);
// for y = log_softmax(x), dx = dy − exp(y) ⊙ Σ dy.
func softmaxBackward(y, dy *tensor.Tensor, log bool) *tensor.Tensor {
	if log {
		return tensor.Sub(dy, tensor.Mul(tensor.Exp(y), tensor.Sum(dy, []int{-1}, true)))
	}
	return tensor.Mul(y, tensor.Sub(dy, tensor.Sum(tensor.Mul(dy, y), []int{-1}, true)))
}

// attentionScale is 1/√d for heads of width d.
func attentionScale(q *tensor.Tensor) float32 { return float32(1 / math.Sqrt(float64(q.Dim(-1)))) }

// attention returns out = P·v and P = softmax(q·kᵀ/√d + causal mask) for
// q, k, v [..., T, d].
func attention(q, k, v *tensor.Tensor, causal bool) (out, p *tensor.Tensor) {
	p = tensor.MaskedSoftmax(tensor.MatMulT(q, k, false, true), attentionScale(q), causal)
	return tensor.MatMul(p, v), p
}

// attentionBackward returns attention's gradients given dout and P:
// dv = Pᵀ·dout, dP = dout·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
// dq = dS·k/√d, dk = dSᵀ·q/√d (masked entries have P = 0, hence dS = 0).
func attentionBackward(dout, p, q, k, v *tensor.Tensor) (dq, dk, dv *tensor.Tensor) {
	scale := attentionScale(q)
	dv = tensor.MatMulT(p, dout, true, false)
	ds := softmaxBackward(p, tensor.MatMulT(dout, v, false, true), false)
	dq = tensor.MulScalar(tensor.MatMul(ds, k), scale)
	dk = tensor.MulScalar(tensor.MatMulT(ds, q, true, false), scale)
	return dq, dk, dv
}
