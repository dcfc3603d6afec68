package clip

import (
	"fmt"
	"slices"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// The packed text path (docs/cocoop.md §7, §8 rows 1–2). CoCoOp runs every
// class prompt of every image through the 12 text layers; CoOp every class
// prompt of a batch. Causal attention makes most of that work redundant:
//
//  1. positions after a prompt's EOT never reach its EOT row: they are
//     never created;
//  2. the positions before the class name (SOS and the context vectors)
//     are the same for all classes of one image (CoCoOp) or of the whole
//     batch (CoOp), and by causality so are their hidden states, keys and
//     values in every layer: they are computed once per group, and every
//     class prompt attends to them.
//
// All tokens that remain are packed as rows [R, W] of one matrix, so
// LayerNorm, in_proj, out_proj and the MLP are one matrix product each over
// R rows (where the savings come from); only attention looks at sequences,
// through autograd.PackedAttention, whose backward routes the gradients of
// every class into the shared prefix rows. Features and gradients equal the
// plain 77-token path's up to float32 rounding (text_packed_test.go).

// EncodeTextShared encodes the G·K prompts prefix[g] ++ suffix[c] for every
// group g and class c, and returns their text features [G, K, E] (not
// normalized; prompt (g, c) at [g, c]):
//
//	prefix [G, P, W]  prompt embeddings of positions 0..P−1 of group g
//	suffix [K, S, W]  embeddings of positions P..P+S−1 of class c
//	ids    K rows of P+S token ids: class c's prompt (EOT = first maximal
//	       id, which must lie at position ≥ P)
//
// CoCoOp: groups are the images, P = 1 + n_ctx (SOS, then ctx + π(x̂_g)),
// suffix the classes' token_suffix. CoOp: one group, prefix [1, P, W] with
// SOS and the shared ctx (class position "end"); for "middle" P = 1 + n_ctx/2
// and for "front" P = 1, the rest of each prompt in its suffix (CSC: all
// ctx in the suffix, P = 1). prefix may be nil (P = 0, G = 1):
// every prompt is then just cut after its own EOT. Either input may require
// grad; the prefix gradient sums over the group's classes and the suffix
// gradient over the groups, as with explicitly concatenated prompts. Rows of
// suffix after a class's EOT are never read (zero gradient).
//
// With Text.FullPrompts set the prompts are assembled explicitly as
// [G·K, C, W] (padded to the context length C) and run through the plain
// path (Forward, as EncodeTextEmbeddings), for comparison; otherwise the
// packed path runs. A Trace receives the intermediates of the route taken
// (packed ones: see TowerTrace.Rows).
func (m *CLIP) EncodeTextShared(prefix, suffix *autograd.Var, ids [][]int32) *autograd.Var {
	return m.Text.ForwardShared(prefix, suffix, ids, m.towerTrace(false))
}

// EncodeTextEmbeddingsShared is EncodeTextEmbeddings (prompts [N, L, W],
// ids N rows of L) for prompts whose first prefixLen positions are equal
// across the batch, as CoCoOp's prompts of one image and CoOp's prompts of
// one batch are by construction: a drop-in replacement that takes the
// packed path, returning [N, E]. It checks the equality (exactly; panics
// otherwise), reads the prefix from prompt 0 and the suffix from every
// prompt: the gradient of the shared rows (summed over all prompts) lands
// on prompt 0's rows 0..prefixLen−1, and the other prompts' copies get
// zero, which is exact for anything the prompts were built from (e.g. ctx
// broadcast with Expand) but not per-prompt. prefixLen 0 shares nothing
// and only cuts each prompt after its EOT. Text.FullPrompts applies as in
// EncodeTextShared.
func (m *CLIP) EncodeTextEmbeddingsShared(prompts *autograd.Var, ids [][]int32, prefixLen int) *autograd.Var {
	t := m.Text
	s := prompts.Shape()
	if len(s) != 3 || prefixLen < 0 || prefixLen > s[1] {
		panic(fmt.Sprintf("clip: EncodeTextEmbeddingsShared: prompts %v with prefix length %d, want [N, L, W] and 0 ≤ prefix ≤ L", s, prefixLen))
	}
	n, l, w := s[0], s[1], s[2]
	if prompts.Value.Device() != tensor.CPU {
		checkSharedOnDevice(prompts.Value, prefixLen)
	} else {
		pd := prompts.Value.Contiguous().Data()
		for i := 1; i < n; i++ {
			for j := range prefixLen * w {
				if pd[i*l*w+j] != pd[j] {
					panic(fmt.Sprintf("clip: EncodeTextEmbeddingsShared: prompt %d differs from prompt 0 at position %d of the shared prefix (length %d)", i, j/w, prefixLen))
				}
			}
		}
	}
	var prefix *autograd.Var
	if prefixLen > 0 {
		prefix = autograd.Slice(autograd.Slice(prompts, 0, 0, 1), 1, 0, prefixLen) // [1, P, W]
	}
	suffix := autograd.Slice(prompts, 1, prefixLen, l) // [N, L−P, W]
	return autograd.Reshape(m.EncodeTextShared(prefix, suffix, ids), n, t.OutputDim)
}

// checkSharedOnDevice is EncodeTextEmbeddingsShared's equality check for
// prompts on a device: the largest difference of any prompt's prefix from
// prompt 0's, either way, computed there (two scalars downloaded); it must
// be 0 (a NaN is a difference, as on the CPU).
func checkSharedOnDevice(prompts *tensor.Tensor, prefixLen int) {
	n := prompts.Dim(0)
	if n < 2 || prefixLen == 0 {
		return
	}
	pre := prompts.Slice(1, 0, prefixLen)
	d := tensor.Sub(pre, pre.Slice(0, 0, 1)) // [N, P, W]
	m := tensor.Concat([]*tensor.Tensor{tensor.Max(d, nil, true).Reshape(1), tensor.Max(tensor.Neg(d), nil, true).Reshape(1)}, 0)
	h, err := m.To(tensor.CPU)
	if err != nil {
		panic(err)
	}
	if v := h.Data(); !(v[0] == 0 && v[1] == 0) {
		panic(fmt.Sprintf("clip: EncodeTextEmbeddingsShared: a prompt differs from prompt 0 inside the shared prefix (length %d): largest difference %g", prefixLen, max(v[0], v[1])))
	}
}

// ForwardShared is EncodeTextShared on the tower; tr, if non-nil, receives
// the intermediates: on the packed path Input, Blocks, Heads and the
// branches are packed [R, ...] (Rows maps prompts to rows, PerPrompt to
// [G·K, L', ...]), Attn[i] is [G·K, H, L', L'] with L' = max EOT position + 1
// (each prompt's attention map, rows after its EOT zero), Probs is nil,
// Final [G·K, W] and Features [G·K, E].
func (t *TextTransformer) ForwardShared(prefix, suffix *autograd.Var, ids [][]int32, tr *TowerTrace) *autograd.Var {
	k, l := t.checkIDs("EncodeTextShared", ids)
	g, p := 1, 0
	if prefix != nil {
		s := prefix.Shape()
		if len(s) != 3 || s[2] != t.Width {
			panic(fmt.Sprintf("clip: EncodeTextShared: prefix %v, want [G, P, %d]", s, t.Width))
		}
		g, p = s[0], s[1]
	}
	if s := suffix.Shape(); len(s) != 3 || s[0] != k || s[1] != l-p || s[2] != t.Width {
		panic(fmt.Sprintf("clip: EncodeTextShared: suffix %v, want [%d, %d, %d] to match ids [%d, %d] after a prefix of %d", s, k, l-p, t.Width, k, l, p))
	}
	eot := EOTPositions(ids)
	for c, e := range eot {
		if e < p {
			panic(fmt.Sprintf("clip: EncodeTextShared: class %d has its EOT at position %d, inside the shared prefix of %d positions", c, e, p))
		}
	}
	if t.FullPrompts {
		return t.forwardAssembled(prefix, suffix, ids, g, tr)
	}
	pk := newTextPacking(g, p, l-p, eot)
	x := autograd.IndexSelect(autograd.Reshape(suffix, k*(l-p), t.Width), 0, pk.suffixRows) // [ΣK rows, W]
	if p > 0 {
		x = autograd.Concat([]*autograd.Var{autograd.Reshape(prefix, g*p, t.Width), x}, 0) // [R, W]
	}
	x = autograd.Add(x, autograd.IndexSelect(t.PositionalEmbedding, 0, pk.pos)) // + positional embedding by absolute position
	if tr != nil {
		tr.reset(x)
		tr.Rows = pk.promptRows
	}
	blocks := t.Transformer.Resblocks
	if tr == nil { // untraced: the last block computes the EOT rows only (the same bits)
		blocks = blocks[:len(blocks)-1]
	}
	for _, b := range blocks {
		if tr.record(b) {
			tr.Attn = append(tr.Attn, nil) // filled below, once the block has run
		}
		x = b.ForwardPacked(x, pk.seqs) // [R, W] -> [R, W]
		if tr != nil && tr.RecordAttn {
			tr.Attn[len(tr.Attn)-1] = pk.attentionMaps(b.Attn.LastPackedAttn, b.Attn.Heads)
		}
		tr.keep(b, x)
	}
	if tr == nil {
		last := t.Transformer.Resblocks[len(blocks)]
		tr.record(last)                                    // no trace: clears a record flag left on, as runBlocks does
		x = last.ForwardPackedRows(x, pk.seqs, pk.eotRows) // [R, W] -> [G·K, W]
	} else {
		x = autograd.IndexSelect(x, 0, pk.eotRows) // [G·K, W]
	}
	x = t.LnFinal.Forward(x)
	if tr != nil {
		tr.Final = x
	}
	x = autograd.MatMul(x, t.TextProjection) // [G·K, W] @ [W, E]
	if tr != nil {
		tr.Features = x
	}
	return autograd.Reshape(x, g, k, t.OutputDim)
}

// forwardAssembled is the full route of ForwardShared (Text.FullPrompts):
// every prompt built explicitly, [SOS-prefix | suffix | padding] → [G·K, C, W]
// with the padding token's embedding (id 0, as tokenize() pads) after the
// given ids, and run through Forward at all C positions.
func (t *TextTransformer) forwardAssembled(prefix, suffix *autograd.Var, ids [][]int32, g int, tr *TowerTrace) *autograd.Var {
	k, w, c := len(ids), t.Width, t.ContextLength
	s := suffix.Shape()[1]
	parts := []*autograd.Var{autograd.Expand(autograd.Unsqueeze(suffix, 0), g, k, s, w)} // [G, K, S, W]
	if prefix != nil {
		p := prefix.Shape()[1]
		parts = append([]*autograd.Var{autograd.Expand(autograd.Unsqueeze(prefix, 1), g, k, p, w)}, parts...) // [G, K, P, W]
	}
	l := len(ids[0])
	if pad := c - l; pad > 0 {
		row := t.TokenEmbedding.Weight.Value.Slice(0, 0, 1).Float()                            // [1, W]: the padding token, id 0 (widened if float16)
		parts = append(parts, autograd.Constant(row.Reshape(1, 1, 1, w).Expand(g, k, pad, w))) // [G, K, C−L, W]
	}
	prompts := autograd.Reshape(autograd.Concat(parts, 2), g*k, c, w) // [G, K, C, W] -> [G·K, C, W]
	all := make([][]int32, 0, g*k)
	for range g {
		for _, row := range ids {
			all = append(all, append(slices.Clone(row), make([]int32, c-l)...)) // padded with id 0
		}
	}
	return autograd.Reshape(t.Forward(prompts, all, tr), g, k, t.OutputDim)
}

// textPacking lays out the rows of G groups × K classes: first the G·P
// prefix rows (group g, position j at row g·P + j), then per prompt
// n = g·K + c its positions P..eot_c.
type textPacking struct {
	g, p, k    int
	eot        []int                // per class
	pos        []int                // per row: its position (positional embedding row)
	suffixRows []int                // per suffix row: its row in suffix viewed as [K·S, W]
	seqs       []autograd.PackedSeq // G prefix sequences (when P > 0), then the G·K prompts
	promptRows [][]int              // per prompt: rows of positions 0..eot
	eotRows    []int                // per prompt: row of its EOT
}

func newTextPacking(g, p, s int, eot []int) *textPacking {
	k := len(eot)
	pk := &textPacking{g: g, p: p, k: k, eot: eot}
	pre := func(gi int) []int { // rows of group gi's prefix
		rows := make([]int, p)
		for j := range rows {
			rows[j] = gi*p + j
		}
		return rows
	}
	if p > 0 {
		for gi := range g {
			for j := range p { // row gi·P + j holds position j
				pk.pos = append(pk.pos, j)
			}
			pk.seqs = append(pk.seqs, autograd.PackedSeq{Rows: pre(gi)})
		}
	}
	next := g * p
	for gi := range g {
		for c, e := range eot {
			rows := pre(gi)
			for j := p; j <= e; j++ {
				rows = append(rows, next)
				pk.pos = append(pk.pos, j)
				pk.suffixRows = append(pk.suffixRows, c*s+j-p)
				next++
			}
			pk.seqs = append(pk.seqs, autograd.PackedSeq{Rows: rows, Own: p})
			pk.promptRows = append(pk.promptRows, rows)
			pk.eotRows = append(pk.eotRows, rows[e])
		}
	}
	return pk
}

// attentionMaps assembles each prompt's attention probabilities
// [G·K, H, L', L'] (L' = max EOT + 1) from the packed ones: rows 0..P−1 from
// its group's prefix sequence, rows P..eot from its own.
func (pk *textPacking) attentionMaps(probs []*tensor.Tensor, heads int) *tensor.Tensor {
	l := slices.Max(pk.eot) + 1
	out := tensor.ZerosOn(probs[0].Device(), pk.g*pk.k, heads, l, l) // where the probabilities are
	place := func(n int, src *tensor.Tensor, from int) {             // src [H, q, keys] → rows from.. of prompt n
		q, keys := src.Dim(1), src.Dim(2)
		tensor.Copy(out.Index(0, n).Slice(1, from, from+q).Slice(2, 0, keys), src) // [H, q, keys]
	}
	prefixSeqs := 0
	if pk.p > 0 {
		prefixSeqs = pk.g
	}
	for n := range pk.g * pk.k {
		if pk.p > 0 {
			place(n, probs[n/pk.k], 0)
		}
		place(n, probs[prefixSeqs+n], pk.p)
	}
	return out
}

// PerPrompt maps t, laid out as the packed path's rows [R, ...], to the
// per-prompt view [N, L', ...] of the plain path: position j of prompt n
// from row Rows[n][j], L' the longest prompt (max EOT + 1), zeros after
// each prompt's EOT. A shared prefix row is copied into every prompt of
// its group; for a gradient that is the sum over the group's prompts,
// since the shortcut computes the row once (docs/cocoop.md §7). Without
// Rows (the plain path, already [N, L, ...]) it returns t.
func (tr *TowerTrace) PerPrompt(t *tensor.Tensor) *tensor.Tensor {
	if tr.Rows == nil {
		return t
	}
	l := 0
	for _, rows := range tr.Rows {
		l = max(l, len(rows))
	}
	r, inner := t.Dim(0), t.Shape()[1:]
	zero := tensor.ZerosOn(t.Device(), append([]int{1}, inner...)...)
	t = tensor.Concat([]*tensor.Tensor{t, zero}, 0) // [R, ...] -> [R+1, ...]: row R is zeros
	idx := make([]int, len(tr.Rows)*l)              // position j of prompt n: row idx[n·L' + j]
	for i := range idx {
		idx[i] = r
	}
	for n, rows := range tr.Rows {
		copy(idx[n*l:], rows)
	}
	return tensor.IndexSelect(t, 0, idx).Reshape(append([]int{len(tr.Rows), l}, inner...)...) // [N·L', ...] -> [N, L', ...]
}
