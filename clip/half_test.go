package clip

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/nn"
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

// prepackedHashModels returns two tiny float16 hash models, the second
// prepacked by prepack, after checking that prepack touched the 4 Linear
// weights (in_proj, out_proj, c_fc, c_proj) of each of a tower's layers
// blocks (parameter names starting with tower) and nothing else.
func prepackedHashModels(t *testing.T, prepack func(*CLIP) int, tower string, layers int) (ref, m *CLIP) {
	t.Helper()
	ref, err := NewHashCLIPHalf(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	m, err = NewHashCLIPHalf(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	before := nn.StateDict(m, "")
	if n := prepack(m); n != 4*layers {
		t.Fatalf("prepacked %d weights, want %d", n, 4*layers)
	}
	for _, p := range m.NamedParameters("") {
		linear := strings.HasPrefix(p.Name, tower) && p.Var.Value.NDim() == 2
		if changed := p.Var.Value != before[p.Name]; changed != linear {
			t.Fatalf("%s: prepacked %v, want %v", p.Name, changed, linear)
		}
	}
	return ref, m
}

// TestPrepackImageWeights: prepacking the float16 image tower keeps
// EncodeImage's bits and touches every Linear weight of the image tower
// and nothing else; a float32 model is left alone.
func TestPrepackImageWeights(t *testing.T) {
	ref, m := prepackedHashModels(t, PrepackImageWeights, "visual.transformer.", tinyConfig.VisionLayers)
	imgs := HashTensor("test.images", 1, 0, 2, 3, tinyConfig.ImageResolution, tinyConfig.ImageResolution)
	autograd.NoGrad(func() {
		sameBitsVar(t, "EncodeImage", m.EncodeImage(imgs).Value, ref.EncodeImage(imgs).Value)
	})
	if n := PrepackImageWeights(tinyModel(t)); n != 0 {
		t.Fatalf("prepacked %d float32 weights", n)
	}
}

// TestPrepackTextWeights: prepacking the float16 text tower touches every
// Linear weight of the text tower and nothing else and keeps the bits of
// EncodeText and of the shared route, both routes, and of its gradient
// with respect to the prompts (each prepacked weight then unpacked).
func TestPrepackTextWeights(t *testing.T) {
	ids := tinyIDs(t)
	run := func(m *CLIP, full bool) (*tensor.Tensor, *tensor.Tensor, *tensor.Tensor) {
		m.Text.FullPrompts = full
		var enc *tensor.Tensor
		autograd.NoGrad(func() { enc = m.EncodeText(ids).Value })
		x := autograd.NewVar(m.TokenEmbedding(ids).Value.Clone(), true)
		out := m.EncodeTextEmbeddingsShared(x, ids, 1) // the rows share SOT
		autograd.Sum(autograd.Mul(out, out), nil, false).Backward()
		return enc, out.Value, x.Grad
	}
	ref, m := prepackedHashModels(t, PrepackTextWeights, "transformer.", tinyConfig.TransformerLayers)
	for _, full := range []bool{false, true} {
		e, o, g := run(m, full)
		er, or, gr := run(ref, full)
		sameBitsVar(t, "EncodeText", e, er)
		sameBitsVar(t, "EncodeTextEmbeddingsShared", o, or)
		sameBitsVar(t, "its gradient", g, gr)
	}
}

// TestImageClassTokenLastBlock: the untraced image forward, whose last
// block computes the class token only, gives the traced forward's
// features (every row of every block) bit for bit, with float32 and with
// prepacked weights, for a batch.
func TestImageClassTokenLastBlock(t *testing.T) {
	m := tinyModel(t)
	imgs := HashTensor("test.images", 1, 0, 3, 3, tinyConfig.ImageResolution, tinyConfig.ImageResolution)
	for _, name := range []string{"float32", "prepacked"} {
		if name == "prepacked" {
			ConvertWeights(m)
			PrepackImageWeights(m)
		}
		autograd.NoGrad(func() {
			tr := &TowerTrace{}
			want := m.Visual.Forward(autograd.Constant(imgs), tr).Value
			if len(tr.Blocks) != tinyConfig.VisionLayers || tr.Blocks[len(tr.Blocks)-1].Shape()[1] != 1+(tinyConfig.ImageResolution/tinyConfig.VisionPatchSize)*(tinyConfig.ImageResolution/tinyConfig.VisionPatchSize) {
				t.Fatalf("%s: the traced forward kept %d blocks, the last %v", name, len(tr.Blocks), tr.Blocks[len(tr.Blocks)-1].Shape())
			}
			sameBitsVar(t, name+": EncodeImage", m.EncodeImage(imgs).Value, want)
		})
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
	hp := nn.StateDict(half, "")
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

// TestLoadHalfWeights: a checkpoint stored in float16 (as the OpenAI
// release) loads with its weight matrices in float16 and
// computes the same bits as the float32 Load of it.
func TestLoadHalfWeights(t *testing.T) {
	path := writeHalfSafetensors(t, tinyStateDict(t))
	ref, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	half, err := LoadHalfWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range half.NamedParameters("") {
		if p.Var.Value.DType() == tensor.Float16 {
			n++
			if !HalfWeight(p.Name, p.Var.Value.Shape()) {
				t.Errorf("%s kept in float16", p.Name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no weight matrix kept in float16")
	}
	cfg := half.Config
	imgs := HashTensor("test.images", 1, 0, 2, 3, cfg.ImageResolution, cfg.ImageResolution)
	ids := tinyIDs(t)
	autograd.NoGrad(func() {
		sameBitsVar(t, "EncodeImage", half.EncodeImage(imgs).Value, ref.EncodeImage(imgs).Value)
		sameBitsVar(t, "EncodeText", half.EncodeText(ids).Value, ref.EncodeText(ids).Value)
	})
}

// TestSaveSafetensorsHalf: a model's float16 weights (converted, the image
// tower's prepacked) are saved as F16 and load back with the same bits,
// in float16 (LoadHalfWeights) or widened (Load); the rest stays F32.
func TestSaveSafetensorsHalf(t *testing.T) {
	m := tinyModel(t)
	dir := t.TempDir()
	f32 := filepath.Join(dir, "f32.safetensors")
	if err := SaveSafetensors(f32, m, nil); err != nil {
		t.Fatal(err)
	}
	ConvertWeights(m)
	PrepackImageWeights(m)
	f16 := filepath.Join(dir, "f16.safetensors")
	if err := SaveSafetensors(f16, m, nil); err != nil {
		t.Fatal(err)
	}
	sd, _, err := ckpt.LoadWith(f16, ckpt.LoadOptions{KeepHalf: true})
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadHalfWeights(f16)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := Load(f16)
	if err != nil {
		t.Fatal(err)
	}
	bp, wp := nn.StateDict(back, ""), nn.StateDict(wide, "")
	halves := 0
	for _, p := range m.NamedParameters("") {
		v, e := p.Var.Value, sd.Get(p.Name)
		if (e.Half != nil) != (v.DType() == tensor.Float16) {
			t.Fatalf("%s: %v saved with Half %v", p.Name, v.DType(), e.Half != nil)
		}
		sameBitsVar(t, p.Name+" (Load)", wp[p.Name], v.Float())
		if v.DType() == tensor.Float16 {
			halves++
			if string(u16bytes(bp[p.Name].HalfData())) != string(u16bytes(v.HalfData())) {
				t.Fatalf("%s: LoadHalfWeights of the saved file differs", p.Name)
			}
		}
	}
	a, _ := os.Stat(f32)
	b, _ := os.Stat(f16)
	if halves == 0 || b.Size() >= a.Size()*3/4 {
		t.Fatalf("%d float16 weights; file %d bytes against %d in float32", halves, b.Size(), a.Size())
	}
}

// writeHalfSafetensors writes sd as safetensors with every tensor in F16
// (rounded), as the OpenAI release stores CLIP, and returns the path.
func writeHalfSafetensors(t *testing.T, sd map[string]*tensor.Tensor) string {
	t.Helper()
	names := make([]string, 0, len(sd))
	for k := range sd {
		names = append(names, k)
	}
	sort.Strings(names)
	header := map[string]any{}
	var data []byte
	for _, k := range names {
		v := sd[k].ToSlice()
		begin := len(data)
		for _, x := range v {
			data = binary.LittleEndian.AppendUint16(data, asm.Float32ToHalf(x))
		}
		header[k] = map[string]any{"dtype": "F16", "shape": sd[k].Shape(), "data_offsets": []int{begin, len(data)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	path := filepath.Join(t.TempDir(), "half.safetensors")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHalfWeightsViTB16: the README's figure for ViT-B/16, 598 MB of
// float32 weights of which ConvertWeights leaves 300 MB (decimal MB).
func TestHalfWeightsViTB16(t *testing.T) {
	names, shapes := ViTB16.StateDictShapes()
	var f32, after int64
	for _, k := range names {
		n := int64(1)
		for _, d := range shapes[k] {
			n *= int64(d)
		}
		f32 += 4 * n
		if HalfWeight(k, shapes[k]) {
			after += 2 * n
		} else {
			after += 4 * n
		}
	}
	if got := [2]int64{(f32 + 5e5) / 1e6, (after + 5e5) / 1e6}; got != [2]int64{598, 300} {
		t.Fatalf("ViT-B/16 weights: %d MB float32, %d MB after ConvertWeights; the README says 598 and 300", got[0], got[1])
	}
}
