package clip

import (
	"math"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

func sameBitsVar(t *testing.T, what string, a, b *tensor.Tensor) {
	t.Helper()
	x, y := a.ToSlice(), b.ToSlice()
	if len(x) != len(y) {
		t.Fatalf("%s: %d vs %d elements", what, len(x), len(y))
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			t.Fatalf("%s: element %d: %g vs %g", what, i, x[i], y[i])
		}
	}
}

// TestConvertWeightsSameBits: a model whose weight matrices are stored in
// float16 computes, bit for bit, what the float32 model with the same
// (float16-exact) values computes — image and text towers, the
// shared-prefix route and the gradient with respect to the prompts — and
// NewHashCLIPHalf is ConvertWeights of NewHashCLIP.
func TestConvertWeightsSameBits(t *testing.T) {
	ref := tinyModel(t)
	saved := ConvertWeights(ref)
	half, err := NewHashCLIPHalf(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	var matrices, others int
	hp := map[string]*tensor.Tensor{}
	for _, p := range half.NamedParameters("") {
		hp[p.Name] = p.Var.Value
	}
	var want int64
	for _, p := range ref.NamedParameters("") {
		v, h := p.Var.Value, hp[p.Name]
		if HalfWeight(p.Name, v.Shape()) {
			matrices++
			want += 2 * int64(v.Numel())
			if v.DType() != tensor.Float16 || h.DType() != tensor.Float16 {
				t.Fatalf("%s: %v and %v, want float16", p.Name, v.DType(), h.DType())
			}
			if a, b := v.HalfData(), h.HalfData(); string(u16bytes(a)) != string(u16bytes(b)) {
				t.Fatalf("%s: ConvertWeights(NewHashCLIP) differs from NewHashCLIPHalf", p.Name)
			}
		} else {
			others++
			if v.DType() != tensor.Float32 {
				t.Fatalf("%s: converted", p.Name)
			}
		}
		// The float32 reference: the same values widened.
		p.Var.Value = v.Float()
	}
	if saved != want || matrices < 10 || others < 10 {
		t.Fatalf("saved %d bytes over %d matrices (%d others), want %d", saved, matrices, others, want)
	}

	imgs := HashTensor("test.images", 1, 0, 2, 3, tinyConfig.ImageResolution, tinyConfig.ImageResolution)
	ids := tinyIDs(t)
	autograd.NoGrad(func() {
		sameBitsVar(t, "EncodeImage", half.EncodeImage(imgs).Value, ref.EncodeImage(imgs).Value)
		sameBitsVar(t, "EncodeText", half.EncodeText(ids).Value, ref.EncodeText(ids).Value)
	})
	grad := func(m *CLIP) (*tensor.Tensor, *tensor.Tensor) {
		emb := m.TokenEmbedding(ids).Value
		x := autograd.NewVar(emb.Clone(), true)
		out := m.EncodeTextEmbeddingsShared(x, ids, 1) // the rows share SOT
		autograd.Sum(autograd.Mul(out, out), nil, false).Backward()
		return out.Value, x.Grad
	}
	for _, full := range []bool{false, true} { // the shortcut, then every prompt at 77 tokens
		half.Text.FullPrompts, ref.Text.FullPrompts = full, full
		oh, gh := grad(half)
		or, gr := grad(ref)
		sameBitsVar(t, "EncodeTextEmbeddingsShared", oh, or)
		sameBitsVar(t, "its gradient", gh, gr)
	}
}

func u16bytes(s []uint16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}
