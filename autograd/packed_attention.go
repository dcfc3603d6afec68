package autograd

import (
	"fmt"
	"math"
	"sync"

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
// before its own rows. Backward, with P the probabilities and scale 1/√d:
//
//	dV = Pᵀ·dO     dP = dO·Vᵀ     dS = P∘(dP − rowsum(P∘dP))·scale
//	dQ = dS·K      dK = dSᵀ·Q
//
// so shared key rows collect the gradient of every sequence that attends
// to them.
//
// The work runs as small matrix products (asm.Sgemm) per block and head: a
// block (attnBlock) stacks the queries of a few consecutive sequences of one
// share group and takes the union of their keys, and the scores a query may
// not see (other sequences' rows, later positions) are masked to
// probability 0. Per head, the blocks of a share group run one after the
// other in order; each sums its key/value gradients in a buffer, then adds
// the sums into its key rows, so every row collects its blocks' sums in
// block order, whatever the number of workers.
//
// On a device the same result comes from graph ops that the backend runs
// (packedAttentionPadded: the sequences gathered into a padded batch).
//
// probs, if non-nil, receives per sequence its probabilities [H, n−Own, n]
// (owned queries × all n keys, zero above the causal diagonal), for
// inspection; they share storage with the graph, treat them as read-only.
func PackedAttention(q, k, v *Var, seqs []PackedSeq, probs *[]*tensor.Tensor) *Var {
	R, H, d := checkPacked(q, k, v, seqs)
	if onDevice(q.Value) {
		return packedAttentionPadded(q, k, v, seqs, probs)
	}
	seqs = clonePackedSeqs(seqs) // the closure must not see later changes
	scale := float32(1 / math.Sqrt(float64(d)))
	qc, kc, vc := q.Value.Contiguous(), k.Value.Contiguous(), v.Value.Contiguous()
	qd, kd, vd := qc.Data(), kc.Data(), vc.Data()
	plan := planAttnBlocks(seqs, shareGroups(seqs, R), R)

	// pOff[s]: start of sequence s's probabilities, H blocks of (n−Own)×n.
	pOff := make([]int, len(seqs)+1)
	for s, sq := range seqs {
		n := len(sq.Rows)
		pOff[s+1] = pOff[s] + H*(n-sq.Own)*n
	}
	pt := tensor.New(pOff[len(seqs)])
	pd := pt.Data()
	prow := func(s, h, i int) []float32 { // probabilities of the query at position i, keys 0..i
		sq := seqs[s]
		n := len(sq.Rows)
		return pd[pOff[s]+(h*(n-sq.Own)+i-sq.Own)*n:][:i+1]
	}

	out := tensor.New(R, H, d)
	od := out.Data()
	plan.forBlockHeads(H, d, func(b *attnBlock, h int, sc *attnScratch) {
		c, u, ld := len(b.queries), len(b.keys), b.ld
		qb := sc.gather(sc.q, qd, b.queries, h, c) // Q [c, d]
		kb := sc.gather(sc.k, kd, b.keys, h, ld)   // K [ld, d], rows past u zero
		vb := sc.gather(sc.v, vd, b.keys, h, u)    // V [u, d]
		s := sc.s[:c*ld]                           // S = scale·Q·Kᵀ [c, ld], columns past u not used
		asm.Sgemm(false, true, c, ld, d, scale, qb, d, kb, d, 0, s, ld)
		// P = each query's softmax over its causal keys [c, ld]: the scores
		// less their maximum go back into the row, −∞ at the keys the query
		// may not see, one exp over the block makes those 0 (asm's exp is 0
		// below −86.9), and each row is divided by its sum. Columns past u
		// are not used.
		b.forQueries(func(qi, seq, i int, cols []int) {
			row, p := s[qi*ld:][:u], prow(seq, h, i)
			m := float32(math.Inf(-1))
			for j, col := range cols {
				p[j] = row[col]
				if p[j] > m {
					m = p[j]
				}
			}
			copy(row, sc.negInf)
			for j, col := range cols {
				row[col] = p[j] - m
			}
		})
		asm.ExpInPlace(s)
		b.forQueries(func(qi, seq, i int, cols []int) {
			row, p := s[qi*ld:][:u], prow(seq, h, i)
			var sum float32
			for _, col := range cols {
				sum += row[col]
			}
			inv := 1 / sum
			for j, col := range cols {
				row[col] *= inv
				p[j] = row[col]
			}
		})
		ob := sc.o[:c*d] // O = P·V [c, d]
		asm.Sgemm(false, false, c, d, u, 1, s, ld, vb, d, 0, ob, d)
		sc.scatter(ob, od, b.queries, h)
	})
	if probs != nil {
		*probs = make([]*tensor.Tensor, len(seqs))
		for s, sq := range seqs {
			n := len(sq.Rows)
			(*probs)[s] = tensor.FromSlice(pd[pOff[s]:pOff[s+1]], H, n-sq.Own, n)
		}
	}

	nq, nk, nv := q.node, k.node, v.node
	res := newOp("packed_attention", out, func(g *tensor.Tensor) {
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
		plan.forGroupHeads(H, d, func(b *attnBlock, h int, sc *attnScratch) {
			c, u, ld := len(b.queries), len(b.keys), b.ld
			gb := sc.gather(sc.g, gd, b.queries, h, c) // dO [c, d]
			// Pᵀ [u, c]: column qi holds query qi's probabilities in the rows
			// of its keys, 0 elsewhere.
			pt := sc.pt[:u*c]
			clear(pt)
			b.forQueries(func(qi, seq, i int, cols []int) {
				for j, x := range prow(seq, h, i) {
					pt[cols[j]*c+qi] = x
				}
			})
			sum := sc.sum[:u*d] // a key or value gradient sum [u, d]
			if dvd != nil {
				asm.Sgemm(false, false, u, d, c, 1, pt, c, gb, d, 0, sum, d) // Pᵀ·dO
				sc.addInto(sum, dvd, b.keys, h)
			}
			if !needDS {
				return
			}
			vb := sc.gather(sc.v, vd, b.keys, h, ld) // V [ld, d], rows past u zero
			dp := sc.s[:c*ld]                        // dP = dO·Vᵀ [c, ld], columns past u not used
			asm.Sgemm(false, true, c, ld, d, 1, gb, d, vb, d, 0, dp, ld)
			// dS = P∘(dP − rowsum(P∘dP))·scale [c, u], 0 outside each
			// query's causal keys.
			ds := sc.ds[:c*u]
			clear(ds)
			b.forQueries(func(qi, seq, i int, cols []int) {
				p, dpr := prow(seq, h, i), dp[qi*ld:][:u]
				var dot float32
				for j, x := range p {
					dot += x * dpr[cols[j]]
				}
				for j, x := range p {
					col := cols[j]
					v := x * (dpr[col] - dot) * scale
					ds[qi*u+col] = v
				}
			})
			if dqd != nil {
				kb := sc.gather(sc.k, kd, b.keys, h, u) // K [u, d]
				dqb := sc.o[:c*d]                       // dQ = dS·K [c, d]
				asm.Sgemm(false, false, c, d, u, 1, ds, u, kb, d, 0, dqb, d)
				sc.scatter(dqb, dqd, b.queries, h)
			}
			if dkd != nil {
				qb := sc.gather(sc.q, qd, b.queries, h, c)                  // Q [c, d]
				asm.Sgemm(true, false, u, d, c, 1, ds, u, qb, d, 0, sum, d) // dSᵀ·Q
				sc.addInto(sum, dkd, b.keys, h)
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
	// The contiguous copies of q, k, v and the probabilities are the op's
	// own (unless handed out through probs): only its backward reads them.
	own := []*tensor.Tensor{qc, kc, vc}
	if probs == nil {
		own = append(own, pt)
	}
	res.keepForBackward([]*tensor.Tensor{q.Value, k.Value, v.Value}, own...)
	return res
}

// Block sizes. A block takes whole sequences of its share group, in order,
// while it has at most blockQueries queries and blockKeys distinct keys; a
// sequence with more owned positions than blockQueries is cut into pieces
// of blockQueries queries, each a block with all the keys it needs. All
// c×u scores of a block are computed, also those between different
// sequences' queries and keys, so larger blocks waste arithmetic, while
// smaller ones make more sgemm calls, each with about a microsecond of
// set-up. CoCoOp's prompts (5 shared prefix keys, 2–6 own rows) make
// blocks of about 32 queries and 37 keys.
//
// keyPad: the key dimension of the score products (S = Q·Kᵀ, dP = dO·Vᵀ,
// the N of op(B) = Kᵀ or Vᵀ) is padded with zero key rows to a multiple of
// keyPad, so that sgemm packs whole panels of Kᵀ with its assembly copier
// (64 wide on AVX-512, 16 on AVX2) rather than with the Go loop for ragged
// panels; at CoCoOp's sizes (BenchmarkPackedAttention, batch 1) forward
// and backward took ≈ 1.4× less CPU time with the 37 keys padded to 64.
//
// Products of these sizes (32·64·64 multiply-adds) are below the size at
// which asm spreads one product across cores (parMNK), so each runs on the
// core of the worker that calls it, as the loops over blocks and heads
// want. Pieces with more keys (from 128 on the pure-Go tier, 2048 with
// AVX) may be split across cores by asm again, with the same bits.
const (
	blockQueries = 32
	blockKeys    = 64
	keyPad       = 64
)

// attnBlock is the unit of PackedAttention's matrix products: pieces of
// consecutive sequences of one share group, their queries stacked, their
// keys merged.
type attnBlock struct {
	queries []int // rows of the queries, piece after piece [c]
	keys    []int // rows of the pieces' keys, each once, in order of first use [u]
	pieces  []blockPiece
	ld      int // u rounded up to keyPad: row stride of the scores
}

// blockPiece: the queries at positions lo..hi−1 of sequence s, rows q0..
// of the block's queries; the key at position j (0 ≤ j < hi) is the
// block's key cols[j].
type blockPiece struct {
	s, lo, hi, q0 int
	cols          []int
}

// forQueries calls f for each query of the block: its row qi in the
// block, its sequence and position i, and the block's keys for its
// positions 0..i.
func (b *attnBlock) forQueries(f func(qi, seq, i int, cols []int)) {
	for _, pc := range b.pieces {
		for i := pc.lo; i < pc.hi; i++ {
			f(pc.q0+i-pc.lo, pc.s, i, pc.cols[:i+1])
		}
	}
}

// attnPlan holds the blocks of each share group, in sequence order.
type attnPlan struct {
	groups      [][]*attnBlock
	blocks      []*attnBlock // all of them, group after group
	maxQ, maxLd int          // scratch sizes
}

// planAttnBlocks cuts each share group (shareGroups) into blocks.
func planAttnBlocks(seqs []PackedSeq, groups [][]int, R int) *attnPlan {
	plan := &attnPlan{groups: make([][]*attnBlock, len(groups))}
	col := make([]int, R) // 1 + the row's key index in the open block; 0: not a key of it
	b := &attnBlock{}
	closeBlock := func(gi int) {
		if len(b.queries) == 0 {
			return
		}
		for _, r := range b.keys {
			col[r] = 0
		}
		c, u := len(b.queries), len(b.keys)
		b.ld = (u + keyPad - 1) / keyPad * keyPad
		plan.maxQ, plan.maxLd = max(plan.maxQ, c), max(plan.maxLd, b.ld)
		plan.groups[gi] = append(plan.groups[gi], b)
		plan.blocks = append(plan.blocks, b)
		b = &attnBlock{}
	}
	for gi, group := range groups {
		for _, s := range group {
			rows := seqs[s].Rows
			for lo := seqs[s].Own; lo < len(rows); {
				hi := min(len(rows), lo+blockQueries)
				newKeys := 0
				for _, r := range rows[:hi] {
					if col[r] == 0 {
						newKeys++
					}
				}
				if len(b.queries)+hi-lo > blockQueries || len(b.keys)+newKeys > blockKeys {
					closeBlock(gi)
				}
				pc := blockPiece{s: s, lo: lo, hi: hi, q0: len(b.queries), cols: make([]int, hi)}
				for j, r := range rows[:hi] {
					if col[r] == 0 {
						b.keys = append(b.keys, r)
						col[r] = len(b.keys)
					}
					pc.cols[j] = col[r] - 1
				}
				b.queries = append(b.queries, rows[lo:hi]...)
				b.pieces = append(b.pieces, pc)
				lo = hi
			}
		}
		closeBlock(gi)
	}
	return plan
}

// work is the multiply-adds of one head's score products over all blocks.
func (plan *attnPlan) work(d int) int {
	var w int
	for _, b := range plan.blocks {
		w += len(b.queries) * b.ld * d
	}
	return w
}

// forBlockHeads runs body(block, h, scratch) for every block and head,
// split across workers; each call writes only its own query rows. scratch
// is private to the worker.
func (plan *attnPlan) forBlockHeads(H, d int, body func(b *attnBlock, h int, sc *attnScratch)) {
	items := len(plan.blocks) * H
	tensor.ParallelFor(items, 1+plan.work(d)/max(len(plan.blocks), 1), func(_, lo, hi int) {
		sc := getAttnScratch(plan, H, d)
		defer attnScratchPool.Put(sc)
		for it := lo; it < hi; it++ {
			body(plan.blocks[it/H], it%H, sc)
		}
	})
}

// forGroupHeads runs body(block, h, scratch) for every block and head: the
// (group, head) pairs are split across workers, and for each head the
// group's blocks run in order. A worker with several heads of a group runs
// them block by block (for each block, its heads), so that it reads and
// writes whole runs of each row's heads. scratch is private to the worker.
func (plan *attnPlan) forGroupHeads(H, d int, body func(b *attnBlock, h int, sc *attnScratch)) {
	items := len(plan.groups) * H
	tensor.ParallelFor(items, 1+plan.work(d)/max(len(plan.groups), 1), func(_, lo, hi int) {
		sc := getAttnScratch(plan, H, d)
		defer attnScratchPool.Put(sc)
		for it := lo; it < hi; {
			g, h0 := it/H, it%H
			h1 := min(H, h0+hi-it) // heads h0..h1−1 of group g are this worker's
			for _, b := range plan.groups[g] {
				for h := h0; h < h1; h++ {
					body(b, h, sc)
				}
			}
			it += h1 - h0
		}
	})
}

// attnScratch is a worker's buffers for one block and head: gathered rows
// of q, k, v and dO, output rows and a key gradient sum ([·, d] each), the
// scores or dP [c, ld], and Pᵀ and dS.
type attnScratch struct {
	H, d                          int
	q, k, v, g, o, sum, s, pt, ds []float32
	negInf                        []float32 // maxLd × −∞
	all, allNegInf                []float32 // the storage of the above, kept for reuse
}

// attnScratchPool keeps the workers' scratch from one call to the next:
// allocated afresh, it was a quarter of everything a small model's
// training allocated (cocoop demo: 4.8 of 20 GB).
var attnScratchPool sync.Pool // *attnScratch

// getAttnScratch returns a worker's scratch for plan, zero-filled as a
// fresh one would be (except negInf): a pooled one when it is large enough;
// the caller puts it back in attnScratchPool.
func getAttnScratch(plan *attnPlan, H, d int) *attnScratch {
	qd, kd, qk := plan.maxQ*d, plan.maxLd*d, plan.maxQ*plan.maxLd
	n := 3*qd + 3*kd + 3*qk
	sc, _ := attnScratchPool.Get().(*attnScratch)
	if sc == nil || cap(sc.all) < n || len(sc.allNegInf) < plan.maxLd {
		sc = &attnScratch{all: make([]float32, n), allNegInf: make([]float32, plan.maxLd)}
		for i := range sc.allNegInf {
			sc.allNegInf[i] = float32(math.Inf(-1))
		}
	} else {
		clear(sc.all[:n])
	}
	buf := sc.all[:n]
	take := func(n int) []float32 {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	sc.H, sc.d, sc.negInf = H, d, sc.allNegInf[:plan.maxLd]
	sc.q, sc.g, sc.o = take(qd), take(qd), take(qd)
	sc.k, sc.v, sc.sum = take(kd), take(kd), take(kd)
	sc.s, sc.pt, sc.ds = take(qk), take(qk), take(qk)
	return sc
}

// gather copies head h of the given rows of data [R, H, d] into buf as a
// matrix [n, d] (n ≥ len(rows)) whose rows past len(rows) are zero.
func (sc *attnScratch) gather(buf, data []float32, rows []int, h, n int) []float32 {
	H, d := sc.H, sc.d
	for i, r := range rows {
		copy(buf[i*d:][:d], data[(r*H+h)*d:][:d])
	}
	clear(buf[len(rows)*d : n*d])
	return buf[:n*d]
}

// scatter copies m [len(rows), d] into head h of the given rows of data.
func (sc *attnScratch) scatter(m, data []float32, rows []int, h int) {
	H, d := sc.H, sc.d
	for i, r := range rows {
		copy(data[(r*H+h)*d:][:d], m[i*d:][:d])
	}
}

// addInto adds m [len(rows), d] into head h of the given rows of data.
func (sc *attnScratch) addInto(m, data []float32, rows []int, h int) {
	H, d := sc.H, sc.d
	for i, r := range rows {
		asm.Axpy(1, m[i*d:][:d], data[(r*H+h)*d:][:d])
	}
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

// packedAttentionPadded is PackedAttention composed of graph ops, which
// run wherever q, k and v live: the device route (tested, with the fast
// path above, against per-sequence attention). Every sequence's rows are
// gathered into one padded batch [S, H, L, d] (L the longest sequence,
// row 0 standing in past a sequence's end), causal attention runs per
// sequence (AttentionProbs, MatMul), and each row's output is taken from
// the sequence that owns it. Under the causal mask a query inside its
// sequence sees no padding, and the padding's queries and the prefix
// queries a sequence does not own get no gradient (IndexSelect passes
// none to rows it did not pick), so this is PackedAttention exactly, up to
// float32 rounding; IndexSelect's backward sums a shared key row's
// gradients over the sequences that attend to it. It costs S·L rows of
// attention instead of the rows of each sequence, and copies of q, k, v.
func packedAttentionPadded(q, k, v *Var, seqs []PackedSeq, probs *[]*tensor.Tensor) *Var {
	R, H, d := q.Value.Dim(0), q.Value.Dim(1), q.Value.Dim(2)
	S, L := len(seqs), 0
	for _, sq := range seqs {
		L = max(L, len(sq.Rows))
	}
	gather := make([]int, S*L) // position i of sequence s: row gather[s·L + i] (row 0 past its end)
	owned := make([]int, R)    // row r: its output at owned[r] of the padded batch
	for s, sq := range seqs {
		for i, r := range sq.Rows {
			gather[s*L+i] = r
			if i >= sq.Own {
				owned[r] = s*L + i
			}
		}
	}
	pad := func(x *Var) *Var {
		x = IndexSelect(x, 0, gather) // [R, H, d] -> [S·L, H, d]
		x = Reshape(x, S, L, H, d)    // [S·L, H, d] -> [S, L, H, d]
		return Permute(x, 0, 2, 1, 3) // [S, L, H, d] -> [S, H, L, d]
	}
	p := AttentionProbs(pad(q), pad(k), true) // [S, H, L, L]
	o := MatMul(p, pad(v))                    // [S, H, L, L] @ [S, H, L, d] -> [S, H, L, d]
	o = Permute(o, 0, 2, 1, 3)                // [S, H, L, d] -> [S, L, H, d]
	o = Reshape(o, S*L, H, d)                 // [S, L, H, d] -> [S·L, H, d]
	if probs != nil {
		*probs = make([]*tensor.Tensor, S)
		for s, sq := range seqs {
			n := len(sq.Rows)
			(*probs)[s] = p.Value.Index(0, s).Slice(1, sq.Own, n).Slice(2, 0, n).Contiguous() // [H, L, L] -> [H, n−Own, n]
		}
	}
	return IndexSelect(o, 0, owned) // [S·L, H, d] -> [R, H, d]
}

func clonePackedSeqs(seqs []PackedSeq) []PackedSeq {
	out := make([]PackedSeq, len(seqs))
	for i, sq := range seqs {
		out[i] = PackedSeq{Rows: append([]int(nil), sq.Rows...), Own: sq.Own}
	}
	return out
}
