package cocoop

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// PromptName is the text a class name contributes to its prompt: "_"
// replaced by a space (CoOp's classname.replace("_", " ")).
func PromptName(name string) string { return strings.ReplaceAll(name, "_", " ") }

// classPrompts holds the class-dependent buffers of a prompt learner
// (PromptLearner.__init__ of trainers/cocoop.py, docs/cocoop.md §1.2), rebuilt for
// every class list:
//
//	text   = prefix + " " + name + "."         prefix: ctx_init or "X X … X"
//	ids    = tokenize(text)                    cut to length (below)
//	prefix = embed(ids)[:, :1]                 token_prefix, SOS   [n_cls, 1, W]
//	suffix = embed(ids)[:, 1+n_ctx:]           token_suffix        [n_cls, length-1-n_ctx, W]
//
// Rows are stored up to length = (last EOT over all classes) + 1 instead of
// the context length 77: positions after a row's EOT never influence its
// feature (causal mask), so this is exact and saves memory.
type classPrompts struct {
	names    []string  // as given
	texts    []string  // prompt texts
	ids      [][]int32 // tokenized prompts, rows of length
	eot      []int     // EOT position per class
	nameLens []int     // BPE length of each name (CoOp's middle/front)
	length   int       // stored row length = max EOT + 1
	nCtx     int
	prefix   *tensor.Tensor // [n_cls, 1, W]
	suffix   *tensor.Tensor // [n_cls, length-1-n_ctx, W]
	order    []int          // classes sorted by EOT position (stable)
}

// newClassPrompts tokenizes and embeds the prompts of names with the frozen
// token embedding of m, rows cut after the last EOT (with
// clip.TextTransformer.FullPrompts the text tower pads them back to 77).
func newClassPrompts(m *clip.CLIP, promptPrefix string, nCtx int, names []string) (*classPrompts, error) {
	if len(names) == 0 {
		return nil, errors.New("cocoop: empty class list")
	}
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		return nil, err
	}
	cp := &classPrompts{names: slices.Clone(names), nCtx: nCtx}
	for _, n := range names {
		cp.texts = append(cp.texts, promptPrefix+" "+PromptName(n)+".")
		cp.nameLens = append(cp.nameLens, len(tok.Encode(PromptName(n))))
	}
	ids, err := tok.Tokenize(cp.texts, m.ContextLength, false)
	if err != nil {
		return nil, fmt.Errorf("cocoop: class prompts: %w", err)
	}
	cp.eot = clip.EOTPositions(ids)
	for c, e := range cp.eot {
		if e < 1+nCtx+1 {
			return nil, fmt.Errorf("cocoop: prompt %q of class %q: EOT at position %d, inside the %d context tokens", cp.texts[c], names[c], e, nCtx)
		}
	}
	cp.ids = clip.CutAfterEOT(ids)
	cp.length = len(cp.ids[0])
	var emb *autograd.Var
	if err := catch(func() { emb = m.TokenEmbedding(cp.ids) }); err != nil { // [n_cls, length, W]
		return nil, fmt.Errorf("cocoop: class prompts: %w", err)
	}
	cp.prefix = emb.Value.Slice(1, 0, 1).Clone()              // [n_cls, 1, W]
	cp.suffix = emb.Value.Slice(1, 1+nCtx, cp.length).Clone() // [n_cls, length-1-n_ctx, W]
	cp.order = make([]int, len(names))
	for i := range cp.order {
		cp.order[i] = i
	}
	slices.SortStableFunc(cp.order, func(a, b int) int { return cp.eot[a] - cp.eot[b] })
	return cp, nil
}

// n is the number of classes.
func (cp *classPrompts) n() int { return len(cp.names) }

// chunk is a group of classes encoded together, cut to length.
type chunk struct {
	cls    []int
	length int // max EOT in the chunk + 1
}

// chunks splits the classes into groups of at most size prompts. With one
// group (size ≤ 0 or ≥ n_cls) the classes keep their order; otherwise they
// are taken in order of prompt length so each group is cut tightly.
func (cp *classPrompts) chunks(size int) []chunk {
	n := cp.n()
	if size <= 0 || size >= n {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return []chunk{{cls: all, length: cp.length}}
	}
	var out []chunk
	for lo := 0; lo < n; lo += size {
		cls := cp.order[lo:min(n, lo+size)]
		l := 0
		for _, c := range cls {
			l = max(l, cp.eot[c]+1)
		}
		out = append(out, chunk{cls: cls, length: l})
	}
	return out
}

// chunkIDs returns the token rows of ch, cut to its length.
func (cp *classPrompts) chunkIDs(ch chunk) [][]int32 {
	ids := make([][]int32, len(ch.cls))
	for i, c := range ch.cls {
		ids[i] = cp.ids[c][:ch.length]
	}
	return ids
}

// isAll reports whether cls is 0..n-1 in order.
func isAll(cls []int, n int) bool {
	if len(cls) != n {
		return false
	}
	for i, c := range cls {
		if c != i {
			return false
		}
	}
	return true
}

// prefixSuffix returns the constant token_prefix [k, 1, W] and token_suffix
// [k, length-1-n_ctx, W] of the classes of ch, cut to ch's length.
func (cp *classPrompts) prefixSuffix(ch chunk) (pre, suf *autograd.Var) {
	p, s := cp.prefix, cp.suffix
	if !isAll(ch.cls, cp.n()) {
		p = tensor.IndexSelect(p, 0, ch.cls)
		s = tensor.IndexSelect(s, 0, ch.cls)
	}
	if l := ch.length - 1 - cp.nCtx; l < s.Dim(1) {
		s = s.Slice(1, 0, l)
	}
	return autograd.Constant(p), autograd.Constant(s)
}

// catch turns a panic of the model code into an error (tensor.Try).
var catch = tensor.Try
