package autograd

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/tensor"
)

// PackedSeq is one sequence of a packed ("varlen") attention batch.
type PackedSeq struct {
	// Rows are the row indices (into q, k, v) of the sequence's tokens in
	// position order: position i is row Rows[i].
	Rows []int
	// Own: queries Rows[Own:] are computed by this sequence; Rows[:Own] is
	// a prefix shared with other sequences, whose outputs another sequence
	// (the one owning those rows) computes. The prefix still serves as keys
	// and values here.
	Own int
}

// PackedAttention is causal scaled-dot-product attention over many sequences
// packed as the rows of q, k, v [R, H, d] (any row order): the query at
// position i of a sequence attends to its keys at positions 0..i, scale
// 1/√d, and the result [R, H, d] holds each row's output as computed by the
// sequence that owns it. Every row must be owned by exactly one sequence
// (panics otherwise, naming the row); a row may appear as a key in any
// number of sequences.
//
// This is what lets many prompts share one prefix: the prefix rows are
// owned (and computed once) by one sequence, and every prompt lists them
// before its own rows. Backward, per sequence with P its probabilities:
//
//	dv_j += Σ_i P_ij·dO_i     ds_ij = P_ij·(dO_i·v_j − Σ_j' P_ij'·dO_i·v_j')·scale
//	dq_i  = Σ_j ds_ij·k_j     dk_j += Σ_i ds_ij·q_i
//
// so shared key rows collect the gradient of every sequence that attends
// to them. Each sequence sums its key/value gradients in a buffer of its
// own, then adds the sums into its rows; sequences that share rows do this
// one after the other in order, so results do not depend on the number of
// workers.
//
// probs, if non-nil, receives per sequence its probabilities [H, n−Own, n]
// (owned queries × all n keys, zero above the causal diagonal), for
// inspection; they share storage with the graph, treat them as read-only.
func PackedAttention(q, k, v *Var, seqs []PackedSeq, probs *[]*tensor.Tensor) *Var {
	R, H, d := checkPacked(q, k, v, seqs)
	seqs = clonePackedSeqs(seqs) // the closure must not see later changes
	scale := float32(1 / math.Sqrt(float64(d)))
	qd, kd, vd := q.Value.Contiguous().Data(), k.Value.Contiguous().Data(), v.Value.Contiguous().Data()
	at := func(data []float32, row, h int) []float32 { return data[(row*H+h)*d:][:d] }

	// pOff[s]: start of sequence s's probabilities, H blocks of (n−Own)×n.
	pOff := make([]int, len(seqs)+1)
	for s, sq := range seqs {
		n := len(sq.Rows)
		pOff[s+1] = pOff[s] + H*(n-sq.Own)*n
	}
	pd := make([]float32, pOff[len(seqs)])
	prow := func(s, h, i int) []float32 { // probabilities of the query at position i, keys 0..i
		sq := seqs[s]
		n := len(sq.Rows)
		return pd[pOff[s]+(h*(n-sq.Own)+i-sq.Own)*n:][:i+1]
	}
	out := tensor.New(R, H, d)
	od := out.Data()
	forSeqHeads(seqs, H, d, func(s, h int) {
		rows := seqs[s].Rows
		for i := seqs[s].Own; i < len(rows); i++ {
			p, qi := prow(s, h, i), at(qd, rows[i], h)
			for j, r := range rows[:i+1] {
				p[j] = scale * asm.Dot(qi, at(kd, r, h))
			}
			asm.SoftmaxRow(p)
			oi := at(od, rows[i], h)
			for j, r := range rows[:i+1] {
				asm.Axpy(p[j], at(vd, r, h), oi)
			}
		}
	})
	if probs != nil {
		*probs = make([]*tensor.Tensor, len(seqs))
		for s, sq := range seqs {
			n := len(sq.Rows)
			(*probs)[s] = tensor.FromSlice(pd[pOff[s]:pOff[s+1]], H, n-sq.Own, n)
		}
	}

	nq, nk, nv := q.node, k.node, v.node
	groups := shareGroups(seqs, R)
	return newOp("packed_attention", out, func(g *tensor.Tensor) {
		gd := g.Contiguous().Data()
		grad := func(n *node) (*tensor.Tensor, []float32) {
			if !n.requiresGrad {
				return nil, nil
			}
			t := tensor.New(R, H, d)
			return t, t.Data()
		}
		dq, dqd := grad(nq)
		dk, dkd := grad(nk)
		dv, dvd := grad(nv)
		needDS := nq.requiresGrad || nk.requiresGrad
		// Per head, the sequences of a group (those sharing rows) run one
		// after the other in order; each sums its key and value gradients
		// in a buffer of its own, then adds the sums into its rows, so every
		// row collects its sequences' sums in sequence order whatever the
		// number of workers.
		forGroupHeads(seqs, groups, H, d, func(s, h int, sc *packedScratch) {
			rows := seqs[s].Rows
			n := len(rows)
			ds, pk, pv := sc.ds[:n], sc.dk[:n*d], sc.dv[:n*d]
			clear(pk)
			clear(pv)
			part := func(buf []float32, j int) []float32 { return buf[j*d:][:d] }
			for i := seqs[s].Own; i < n; i++ {
				p, gi := prow(s, h, i), at(gd, rows[i], h)
				if dvd != nil {
					for j := range p {
						asm.Axpy(p[j], gi, part(pv, j))
					}
				}
				if !needDS {
					continue
				}
				var dot float32
				for j, r := range rows[:i+1] {
					ds[j] = asm.Dot(gi, at(vd, r, h)) // dP_ij
					dot += p[j] * ds[j]
				}
				for j := range p {
					ds[j] = p[j] * (ds[j] - dot) * scale
				}
				if dqd != nil {
					dqi := at(dqd, rows[i], h)
					for j, r := range rows[:i+1] {
						asm.Axpy(ds[j], at(kd, r, h), dqi)
					}
				}
				if dkd != nil {
					qi := at(qd, rows[i], h)
					for j := range p {
						asm.Axpy(ds[j], qi, part(pk, j))
					}
				}
			}
			for j, r := range rows {
				if dkd != nil {
					asm.Axpy(1, part(pk, j), at(dkd, r, h))
				}
				if dvd != nil {
					asm.Axpy(1, part(pv, j), at(dvd, r, h))
				}
			}
		})
		if dq != nil {
			nq.accumulate(dq)
		}
		if dk != nil {
			nk.accumulate(dk)
		}
		if dv != nil {
			nv.accumulate(dv)
		}
	}, q, k, v)
}

// shareGroups partitions the sequences into groups that share no row with
// each other (CoCoOp: the prompts of one image, which share its prefix),
// each group in sequence order, the groups in order of their first
// sequence.
func shareGroups(seqs []PackedSeq, R int) [][]int {
	parent := make([]int, len(seqs))
	for s := range parent {
		parent[s] = s
	}
	find := func(s int) int {
		for parent[s] != s {
			parent[s] = parent[parent[s]]
			s = parent[s]
		}
		return s
	}
	first := make([]int, R) // 1 + the first sequence listing the row; 0: none yet
	for s, sq := range seqs {
		for _, r := range sq.Rows {
			if f := first[r] - 1; f < 0 {
				first[r] = s + 1
			} else if a, b := find(f), find(s); a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	index := map[int]int{}
	var groups [][]int
	for s := range seqs {
		root := find(s)
		gi, ok := index[root]
		if !ok {
			gi = len(groups)
			index[root] = gi
			groups = append(groups, nil)
		}
		groups[gi] = append(groups[gi], s)
	}
	return groups
}

// packedScratch is a worker's buffers for the backward of one sequence and
// head: dP of a query row, and the key and value gradient sums [n, d].
type packedScratch struct{ ds, dk, dv []float32 }

// forGroupHeads runs body(s, h, scratch) for every sequence and head: the
// (group, head) pairs are split across workers, and within a pair the
// group's sequences run in order. scratch is private to the worker.
func forGroupHeads(seqs []PackedSeq, groups [][]int, H, d int, body func(s, h int, sc *packedScratch)) {
	var work, longest int
	for _, sq := range seqs {
		n := len(sq.Rows)
		work += (n - sq.Own) * n * d
		longest = max(longest, n)
	}
	items := len(groups) * H
	tensor.ParallelFor(items, 1+work/max(len(groups), 1), func(_, lo, hi int) {
		sc := &packedScratch{ds: make([]float32, longest), dk: make([]float32, longest*d), dv: make([]float32, longest*d)}
		for it := lo; it < hi; it++ {
			h := it % H
			for _, s := range groups[it/H] {
				body(s, h, sc)
			}
		}
	})
}

// forSeqHeads runs body(s, h) for every sequence and head, split across
// workers; each call writes only its own rows.
func forSeqHeads(seqs []PackedSeq, H, d int, body func(s, h int)) {
	var work int
	for _, sq := range seqs {
		n := len(sq.Rows)
		work += (n - sq.Own) * n * d
	}
	items := len(seqs) * H
	tensor.ParallelFor(items, 1+work/max(len(seqs), 1), func(_, lo, hi int) {
		for it := lo; it < hi; it++ {
			body(it/H, it%H)
		}
	})
}

// checkPacked validates q, k, v [R, H, d] of one shape and the sequences:
// row indices in range and every row owned exactly once.
func checkPacked(q, k, v *Var, seqs []PackedSeq) (R, H, d int) {
	s := q.Value.Shape()
	if len(s) != 3 || !tensor.SameShape(s, k.Value.Shape()) || !tensor.SameShape(s, v.Value.Shape()) {
		panic(&tensor.ShapeError{Op: "autograd.PackedAttention", Shapes: [][]int{s, k.Value.Shape(), v.Value.Shape()}, Msg: "want q, k, v [R, H, d] of one shape"})
	}
	R, H, d = s[0], s[1], s[2]
	owner := make([]int, R)
	for i := range owner {
		owner[i] = -1
	}
	for si, sq := range seqs {
		if len(sq.Rows) == 0 || sq.Own < 0 || sq.Own > len(sq.Rows) {
			panic(fmt.Errorf("autograd: PackedAttention: sequence %d has %d rows and Own %d, want rows and 0 ≤ Own ≤ rows", si, len(sq.Rows), sq.Own))
		}
		for i, r := range sq.Rows {
			if r < 0 || r >= R {
				panic(fmt.Errorf("autograd: PackedAttention: sequence %d position %d: row %d outside [0, %d)", si, i, r, R))
			}
			if i < sq.Own {
				continue
			}
			if owner[r] >= 0 {
				panic(fmt.Errorf("autograd: PackedAttention: row %d owned by sequences %d and %d; each row must be owned once", r, owner[r], si))
			}
			owner[r] = si
		}
	}
	for r, o := range owner {
		if o < 0 {
			panic(fmt.Errorf("autograd: PackedAttention: row %d is owned by no sequence; each row must be owned once", r))
		}
	}
	return R, H, d
}

func clonePackedSeqs(seqs []PackedSeq) []PackedSeq {
	out := make([]PackedSeq, len(seqs))
	for i, sq := range seqs {
		out[i] = PackedSeq{Rows: append([]int(nil), sq.Rows...), Own: sq.Own}
	}
	return out
}
