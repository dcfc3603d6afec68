package clip

import (
	"fmt"
	"math"
	"slices"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
)

// TextTransformer is CLIP's text tower. model.py keeps these fields on the
// CLIP module itself, so their state-dict names have no prefix:
// token_embedding.weight [V, W], positional_embedding [C, W],
// transformer.resblocks.i.* (causal), ln_final.*, text_projection [W, E]
// (stored [in, out]).
type TextTransformer struct {
	ContextLength int // C
	VocabSize     int // V
	Width         int // W
	OutputDim     int // E

	TokenEmbedding      *nn.Embedding   // [V, W]
	PositionalEmbedding *autograd.Var   // [C, W]
	Transformer         *nn.Transformer // causal blocks
	LnFinal             *nn.LayerNorm
	TextProjection      *autograd.Var // [W, E], [in, out]

	// FullPrompts switches the exact text-tower shortcut off: it is the one
	// switch between the two routes of ForwardShared (CLIP.EncodeTextShared,
	// EncodeTextEmbeddingsShared), which every prompt learner and zero-shot
	// classifier encodes through. Off (the default), the packed path
	// computes each shared prefix once and no position after an EOT
	// (text_packed.go). On, every prompt is assembled explicitly, padded
	// with the padding token to the context length and run through Forward
	// at all C positions, as openai/CLIP and the official CoOp code run
	// tokenize()'s 77-token rows. Features and gradients agree up to
	// float32 rounding (text_packed_test.go); the full route is there for
	// comparison, benchmarks and teaching. Both routes run on a device too.
	FullPrompts bool
}

func newTextTransformer(cfg Config, p nn.Params) *TextTransformer {
	w := cfg.TransformerWidth
	return &TextTransformer{
		ContextLength:       cfg.ContextLength,
		VocabSize:           cfg.VocabSize,
		Width:               w,
		OutputDim:           cfg.EmbedDim,
		PositionalEmbedding: p("positional_embedding", nn.Normal(0.01), cfg.ContextLength, w),
		TextProjection:      p("text_projection", nn.Normal(float32(1/math.Sqrt(float64(w)))), w, cfg.EmbedDim),
		Transformer:         nn.NewTransformer(p, "transformer", w, cfg.TransformerLayers, cfg.TransformerHeads, true),
		TokenEmbedding:      nn.NewEmbedding(p, "token_embedding", cfg.VocabSize, w, 0.02),
		LnFinal:             nn.NewLayerNorm(p, "ln_final", w),
	}
}

// Embed looks up the token embeddings of ids (N rows of equal length
// L ≤ C) → [N, L, W]. Ids outside [0, V) panic with an error naming them.
func (t *TextTransformer) Embed(ids [][]int32) *autograd.Var {
	n, l := t.checkIDs("TokenEmbedding", ids)
	flat := make([]int, 0, n*l)
	for r, row := range ids {
		for j, id := range row {
			if id < 0 || int(id) >= t.VocabSize {
				panic(fmt.Errorf("clip: TokenEmbedding: id %d at row %d position %d outside the vocabulary [0, %d)", id, r, j, t.VocabSize))
			}
			flat = append(flat, int(id))
		}
	}
	return t.TokenEmbedding.Forward(flat, n, l) // [N·L] -> [N, L, W]
}

// Forward is encode_text from embeddings x [N, L, W] (L ≤ C): add the
// positional embedding, run the causal blocks, take each row's EOT token
// (position of the first maximal id, torch.argmax), ln_final, project →
// [N, E]. Gradients reach x when it requires grad. tr, if non-nil, receives
// the intermediates.
func (t *TextTransformer) Forward(x *autograd.Var, ids [][]int32, tr *TowerTrace) *autograd.Var {
	n, l := t.checkIDs("EncodeTextEmbeddings", ids)
	if s := x.Shape(); len(s) != 3 || s[0] != n || s[1] != l || s[2] != t.Width {
		panic(fmt.Sprintf("clip: EncodeTextEmbeddings: prompts %v, want [%d, %d, %d] to match ids", s, n, l, t.Width))
	}
	eot := EOTPositions(ids)
	pos := t.PositionalEmbedding
	if l != t.ContextLength {
		pos = autograd.Slice(pos, 0, 0, l) // [C, W] -> [L, W]
	}
	x = autograd.Add(x, pos)               // [N, L, W] + [L, W]
	x = runBlocks(t.Transformer, x, tr, 0) // [N, L, W]
	// ln_final is per token, so applying it to the EOT rows only is exact.
	x = autograd.GatherRows(x, eot) // [N, L, W] -> [N, W]
	x = t.LnFinal.Forward(x)        // [N, W]
	if tr != nil {
		tr.Final = x
	}
	x = autograd.MatMul(x, t.TextProjection) // [N, W] @ [W, E] -> [N, E]
	if tr != nil {
		tr.Features = x
	}
	return x
}

// checkIDs validates that ids is a non-empty batch of rows of one length
// L ≤ C and returns N, L.
func (t *TextTransformer) checkIDs(op string, ids [][]int32) (n, l int) {
	if len(ids) == 0 || len(ids[0]) == 0 {
		panic(fmt.Sprintf("clip: %s: empty ids", op))
	}
	n, l = len(ids), len(ids[0])
	for r, row := range ids {
		if len(row) != l {
			panic(fmt.Sprintf("clip: %s: row %d has %d ids, row 0 has %d", op, r, len(row), l))
		}
	}
	if l > t.ContextLength {
		panic(fmt.Sprintf("clip: %s: %d ids per row, context length is %d", op, l, t.ContextLength))
	}
	return n, l
}

// EOTPositions returns, per row, the index of its first maximal id: the
// EOT token (49407 is the largest id) as torch.argmax finds it, so a
// literal <|endoftext|> inside the text wins over the final one.
func EOTPositions(ids [][]int32) []int {
	pos := make([]int, len(ids))
	for r, row := range ids {
		for j, id := range row {
			if id > row[pos[r]] {
				pos[r] = j
			}
		}
	}
	return pos
}

// CutAfterEOT returns the rows of ids cut after the last EOT among them
// (views of the rows): under the causal mask no position after a row's EOT
// reaches its feature, so the cut changes no result (docs/clip.md §1.3)
// and saves the work of the padding.
func CutAfterEOT(ids [][]int32) [][]int32 {
	if len(ids) == 0 {
		return ids
	}
	n := slices.Max(EOTPositions(ids)) + 1
	out := make([][]int32, len(ids))
	for r, row := range ids {
		out[r] = row[:n]
	}
	return out
}

// NamedParameters implements nn.Module (names without prefix, as in
// model.py's CLIP).
func (t *TextTransformer) NamedParameters(prefix string) []nn.NamedParam {
	return nn.Collect(
		nn.Leaf(prefix, "positional_embedding", t.PositionalEmbedding),
		nn.Leaf(prefix, "text_projection", t.TextProjection),
		nn.Child(prefix, "transformer", t.Transformer),
		nn.Child(prefix, "token_embedding", t.TokenEmbedding),
		nn.Child(prefix, "ln_final", t.LnFinal),
	)
}
