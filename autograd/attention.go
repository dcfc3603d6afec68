package autograd

import (
	"math"

	"github.com/gocoop/gocoop/asm"
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
	// The scores are scaled, masked and softmaxed in place: p is the only
	// [..., Lq, Lk] tensor kept.
	p := tensor.MatMulT(q.Value, k.Value, false, true).Contiguous() // [..., Lq, Lk]
	scaleMaskSoftmax(p, scale, causal)
	if probs != nil {
		*probs = p
	}
	nq, nk, nv := q.node, k.node, v.node
	qv, kv, vv := q.Value, k.Value, v.Value
	return newOp("attention", tensor.MatMul(p, vv), func(g *tensor.Tensor) {
		if nv.requiresGrad {
			nv.accumulate(tensor.SumTo(tensor.MatMulT(p, g, true, false), nv.shape))
		}
		if !nq.requiresGrad && !nk.requiresGrad {
			return
		}
		dS := tensor.MatMulT(g, vv, false, true).Contiguous() // dP, then dS in place
		softmaxBackwardLastInPlace(p, dS, scale)
		if nq.requiresGrad {
			nq.accumulate(tensor.SumTo(tensor.MatMul(dS, kv), nq.shape))
		}
		if nk.requiresGrad {
			nk.accumulate(tensor.SumTo(tensor.MatMulT(dS, qv, true, false), nk.shape))
		}
	}, q, k, v)
}

// scaleMaskSoftmax replaces the contiguous scores s [..., Lq, Lk] by
// softmax(s·scale + causal mask) along the last axis, row by row (rows
// split across cores): the operations of s.ScaleInPlace, a causal mask (−∞ at
// key j > query i) and tensor.Softmax, in the same order per element, in one pass.
func scaleMaskSoftmax(s *tensor.Tensor, scale float32, causal bool) {
	lq, lk := s.Dim(-2), s.Dim(-1)
	if lq == 0 || lk == 0 {
		return
	}
	data := s.Data()
	ninf := float32(math.Inf(-1))
	tensor.ParallelFor(len(data)/lk, 4*lk, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			row := data[r*lk : (r+1)*lk]
			asm.Scale(scale, row)
			if causal {
				for j := r%lq + 1; j < lk; j++ {
					row[j] = ninf
				}
			}
			asm.SoftmaxRow(row)
		}
	})
}

// softmaxBackwardLastInPlace turns dP into dS = P ⊙ (dP − rowsum(dP ⊙ P))·scale
// in place, along the last axis of the contiguous p and dp of one shape
// (rows split across cores).
func softmaxBackwardLastInPlace(p, dp *tensor.Tensor, scale float32) {
	n := p.Dim(-1)
	if n == 0 {
		return
	}
	pd, gd := p.Contiguous().Data(), dp.Data()
	tensor.ParallelFor(len(gd)/n, 3*n, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			pr, gr := pd[r*n:(r+1)*n], gd[r*n:(r+1)*n]
			dot := asm.Dot(gr, pr)
			for j, y := range pr {
				gr[j] = y * (gr[j] - dot) * scale
			}
		}
	})
}
