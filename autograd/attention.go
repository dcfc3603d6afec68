package autograd

import (
	"math"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/tensor"
)

// ScaledDotProductAttention: q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv];
// softmax(q·kᵀ·scale + causal mask)·v with scale = 1/√d, that is
// AttentionProbs(q, k, causal) times v. probs, if non-nil, receives the
// attention probabilities [..., Lq, Lk] (their values; use AttentionProbs
// and MatMul for them as a graph node). With P the probabilities and
// O = P·v, the matrix product's backward gives dv = Pᵀ·dO and dP = dO·vᵀ,
// and AttentionProbs' backward the rest.
func ScaledDotProductAttention(q, k, v *Var, causal bool, probs **tensor.Tensor) *Var {
	p := AttentionProbs(q, k, causal) // [..., Lq, Lk]
	if probs != nil {
		*probs = p.Value
	}
	return matMulT("attention", p, v, false, false) // [..., Lq, Lk] @ [..., Lk, dv]
}

// AttentionProbs is P = softmax(q·kᵀ·scale + causal mask) [..., Lq, Lk]
// for q [..., Lq, d] and k [..., Lk, d], scale = 1/√d, along the keys: the
// attention weights (torch's attn_output_weights per head) as a node of the
// graph, so that gradients with respect to them (gradient × attention,
// relevance maps) can be retained or hooked.
//
// The causal mask lets query i see keys j ≤ i (top-left aligned, as
// PyTorch's is_causal). Backward, with S = q·kᵀ·scale:
//
//	dS = P ⊙ (dP − rowsum(dP ⊙ P))     dq = dS·k·scale     dk = dSᵀ·q·scale
//
// Masked entries have P = 0, hence dS = 0: the mask needs no backward.
func AttentionProbs(q, k *Var, causal bool) *Var {
	d := q.Value.Dim(-1)
	scale := float32(1 / math.Sqrt(float64(d)))
	nq, nk := q.node, k.node
	qv, kv := q.Value, k.Value
	// The scores are softmaxed in place: p is the only [..., Lq, Lk] tensor kept.
	p := tensor.MaskedSoftmaxInPlace(tensor.MatMulT(qv, kv, false, true), scale, causal) // [..., Lq, Lk]
	return newOp("attention_probs", p, func(g *tensor.Tensor) {
		var dS *tensor.Tensor
		if onDevice(p) { // composed of tensor ops, which dispatch to the backend
			dS = tensor.MulScalar(softmaxBackward(p, g, -1), scale)
		} else {
			dS = g.Contiguous().Clone() // dP, then dS in place
			softmaxBackwardLastInPlace(p, dS, scale)
		}
		if nq.requiresGrad {
			nq.accumulate(tensor.SumTo(tensor.MatMul(dS, kv), nq.shape))
		}
		if nk.requiresGrad {
			nk.accumulate(tensor.SumTo(tensor.MatMulT(dS, qv, true, false), nk.shape))
		}
	}, q, k)
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
