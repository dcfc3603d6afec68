package clip

import (
	"slices"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// benchClassNames: the 37 Oxford Pets breeds and 13 Flowers102 names, as
// "X X X X {name}." prompts 7–13 tokens up to the EOT.
var benchClassNames = []string{
	"abyssinian", "american bulldog", "american pit bull terrier", "basset hound", "beagle",
	"bengal", "birman", "bombay", "boxer", "british shorthair", "chihuahua", "egyptian mau",
	"english cocker spaniel", "english setter", "german shorthaired", "great pyrenees",
	"havanese", "japanese chin", "keeshond", "leonberger", "maine coon", "miniature pinscher",
	"newfoundland", "persian", "pomeranian", "pug", "ragdoll", "russian blue", "saint bernard",
	"samoyed", "scottish terrier", "shiba inu", "siamese", "sphynx", "staffordshire bull terrier",
	"wheaten terrier", "yorkshire terrier",
	"pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
	"english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
	"globe thistle", "snapdragon", "colt's foot", "king protea",
}

// BenchmarkTextShared: one CoOp/CoCoOp text step at ViT-B/16 size, 50
// classes sharing SOS + 4 context vectors, forward and backward to the
// context (the suffix, token embeddings, is frozen):
//
//	full     EncodeTextShared with Text.FullPrompts: the assembled
//	         [50, 77, W] prompts, as model.py runs them
//	packed   EncodeTextShared: the prefix once, each prompt up to its EOT
//
// go test ./clip -run '^$' -bench TextShared -benchtime 3x
func BenchmarkTextShared(b *testing.B) {
	m := hashTextModel(ViTB16)
	const nCtx = 4
	texts := make([]string, len(benchClassNames))
	for i, n := range benchClassNames {
		texts[i] = strings.Repeat("X ", nCtx) + n + "."
	}
	ids, err := Tokenize(texts, ContextLength, false)
	if err != nil {
		b.Fatal(err)
	}
	emb := m.TokenEmbedding(ids) // [K, 77, W], frozen
	p, k, w := 1+nCtx, len(ids), m.TransformerWidth
	suffix := autograd.Constant(emb.Value.Slice(1, p, ContextLength).Contiguous()) // [K, 72, W]
	sos := autograd.Constant(emb.Value.Slice(0, 0, 1).Slice(1, 0, 1).Contiguous()) // [1, 1, W]
	ctx := autograd.Param(tensor.NewRNG(1).Normal(0, 0.02, 1, nCtx, w))
	eot := EOTPositions(ids)
	var tokens int
	for _, e := range eot {
		tokens += e + 1
	}
	b.Logf("%d prompts, %d tokens up to their EOTs (EOT positions %d–%d), prefix %d", k, tokens, slices.Min(eot), slices.Max(eot), p)
	grad := tensor.Ones(k, m.EmbedDim)
	for _, mode := range []string{"full", "packed"} {
		b.Run(mode, func(b *testing.B) {
			m.Text.FullPrompts = mode == "full"
			defer func() { m.Text.FullPrompts = false }()
			for b.Loop() {
				ctx.ZeroGrad()
				prefix := autograd.Concat([]*autograd.Var{sos, ctx}, 1)                       // [1, P, W]
				f := autograd.Reshape(m.EncodeTextShared(prefix, suffix, ids), k, m.EmbedDim) // [1, K, E] -> [K, E]
				f.BackwardWith(grad)
			}
		})
	}
}
