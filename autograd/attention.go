package autograd

import (
	"math"

	"github.com/gocoop/gocoop/tensor"
)

// ScaledDotProductAttention: q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv];
// softmax(q·kᵀ·scale + causal mask)·v with scale = 1/√d. probs, if non-nil,
// receives the attention probabilities [..., Lq, Lk] (for inspection).
//
// The causal mask lets query i see keys j ≤ i (top-left aligned, as
// PyTorch's is_causal). Backward, with S = q·kᵀ·scale, P = softmax(S) and
// O = P·v:
//
//	dv = Pᵀ·dO     dP = dO·vᵀ     dS = P ⊙ (dP − rowsum(dP ⊙ P))
//	dq = dS·k·scale     dk = dSᵀ·q·scale
//
// Masked entries have P = 0, hence dS = 0: the mask needs no backward.
func ScaledDotProductAttention(q, k, v *Var, causal bool, probs **tensor.Tensor) *Var {
	d := q.Value.Dim(-1)
	scale := float32(1 / math.Sqrt(float64(d)))
	s := tensor.MatMulT(q.Value, k.Value, false, true).Contiguous() // [..., Lq, Lk]
	s.ScaleInPlace(scale)
	if causal {
		applyCausalMask(s)
	}
	p := tensor.Softmax(s, -1)
	if probs != nil {
		*probs = p
	}
	return newOp("attention", tensor.MatMul(p, v.Value), func(g *tensor.Tensor) {
		if v.requiresGrad {
			v.accumulate(tensor.SumTo(tensor.MatMulT(p, g, true, false), v.Value.Shape()))
		}
		if !q.requiresGrad && !k.requiresGrad {
			return
		}
		dS := softmaxBackward(p, tensor.MatMulT(g, v.Value, false, true), -1)
		dS.ScaleInPlace(scale)
		if q.requiresGrad {
			q.accumulate(tensor.SumTo(tensor.MatMul(dS, k.Value), q.Value.Shape()))
		}
		if k.requiresGrad {
			k.accumulate(tensor.SumTo(tensor.MatMulT(dS, q.Value, true, false), k.Value.Shape()))
		}
	}, q, k, v)
}

// applyCausalMask sets scores[..., i, j] = −∞ for j > i, in place (s is
// contiguous).
func applyCausalMask(s *tensor.Tensor) {
	lq, lk := s.Dim(-2), s.Dim(-1)
	data := s.Data()
	ninf := float32(math.Inf(-1))
	for base := 0; base < len(data); base += lq * lk {
		for i := range lq {
			row := data[base+i*lk : base+(i+1)*lk]
			for j := i + 1; j < lk; j++ {
				row[j] = ninf
			}
		}
	}
}
