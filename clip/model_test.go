package clip

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// tinyConfig matches make_parity.py's TINY.
var tinyConfig = Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 128, VisionHeads: 2,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
}

func tinyStateDict(t testing.TB) map[string]*tensor.Tensor {
	t.Helper()
	sd, err := HashStateDict(tinyConfig)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func tinyModel(t testing.TB) *CLIP {
	t.Helper()
	m, err := FromStateDict(tinyStateDict(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyIDs are three token rows of length 77: SOT, ids, EOT, padding; row 2
// has a literal EOT (49407) before its final one.
func tinyIDs(t testing.TB) [][]int32 {
	t.Helper()
	rows := [][]int32{
		{SOTToken, 320, 1125, 539, 320, 1929, 269, EOTToken},
		{SOTToken, 529, 2728, 539, 320, 2368, 269, EOTToken},
		{SOTToken, 320, 1125, 539, 320, EOTToken, EOTToken},
	}
	for i := range rows {
		rows[i] = append(rows[i], make([]int32, ContextLength-len(rows[i]))...)
	}
	return rows
}

func TestConfigFromStateDict(t *testing.T) {
	cfg, err := ConfigFromStateDict(tinyStateDict(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != tinyConfig {
		t.Fatalf("inferred %+v, want %+v", cfg, tinyConfig)
	}
	names, shapes := ViTB16.StateDictShapes()
	if len(names) != 302 {
		t.Errorf("ViT-B/16 has %d parameters, want 302 (docs/clip.md §2.1)", len(names))
	}
	total := 0
	for _, n := range names {
		c := 1
		for _, d := range shapes[n] {
			c *= d
		}
		total += c
	}
	if total != 149_620_737 {
		t.Errorf("ViT-B/16 has %d scalars, want 149,620,737 (docs/clip.md §5)", total)
	}
	want := []string{"positional_embedding", "text_projection", "logit_scale", "visual.class_embedding"}
	if !slices.Equal(names[:4], want) || names[len(names)-1] != "ln_final.bias" {
		t.Errorf("order %v ... %s", names[:4], names[len(names)-1])
	}
	if s := shapes["visual.positional_embedding"]; !slices.Equal(s, []int{197, 768}) {
		t.Errorf("visual.positional_embedding %v", s)
	}
}

// TestBuildModelTiny is build_model + inference on the tiny config: names
// round-trip, shapes, logits, the EOT rule and the exactness of dropping the
// tokens after EOT.
func TestBuildModelTiny(t *testing.T) {
	sd := tinyStateDict(t)
	m, err := FromStateDict(sd)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.NamedParameters("") {
		names = append(names, p.Name)
		if &p.Var.Value.Data()[0] != &sd[p.Name].Data()[0] {
			t.Errorf("%s: the model copied the tensor instead of taking it", p.Name)
		}
	}
	keys := make([]string, 0, len(sd))
	for k := range sd {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sorted := slices.Sorted(slices.Values(names))
	if !slices.Equal(sorted, keys) {
		t.Fatalf("NamedParameters names differ from the state dict keys")
	}
	if got, _ := nn.CountParams(m); got == 0 {
		t.Fatal("no parameters")
	}

	ids := tinyIDs(t)
	images := HashTensor("test.images", 1, 0, 2, 3, 32, 32)
	var img, txt, logits *autograd.Var
	autograd.NoGrad(func() {
		img = m.EncodeImage(images)
		txt = m.EncodeText(ids)
		logits = m.LogitsPerImage(img, txt)
	})
	if !slices.Equal(img.Shape(), []int{2, 32}) || !slices.Equal(txt.Shape(), []int{3, 32}) || !slices.Equal(logits.Shape(), []int{2, 3}) {
		t.Fatalf("shapes img %v txt %v logits %v", img.Shape(), txt.Shape(), logits.Shape())
	}
	for _, v := range logits.Value.Data() {
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 100.0001 {
			t.Fatalf("logit %v outside [-100, 100]", v)
		}
	}

	if got := EOTPositions(ids); !slices.Equal(got, []int{7, 7, 5}) {
		t.Errorf("EOT positions %v, want [7 7 5] (first maximal id)", got)
	}

	// Tokens after the EOT cannot influence it (causal mask): truncating
	// every row to max EOT + 1 gives the same features.
	short := make([][]int32, len(ids))
	for i := range ids {
		short[i] = ids[i][:8]
	}
	var txtShort *autograd.Var
	autograd.NoGrad(func() { txtShort = m.EncodeText(short) })
	t.Logf("EncodeText on rows cut after EOT: max diff %g", tensor.MaxAbsDiff(txtShort.Value, txt.Value))
	if d := tensor.MaxAbsDiff(txtShort.Value, txt.Value); d > 1e-5 {
		t.Errorf("truncated-after-EOT features differ by %g", d)
	}
}

// TestFullPromptsPadsToContext: with Text.FullPrompts the shared entry
// point runs prompts given cut after their EOT at all 77 positions, padded
// as tokenize() pads, and gives model.py's features and prompt gradients
// (those of EncodeTextEmbeddings on the 77-token rows).
func TestFullPromptsPadsToContext(t *testing.T) {
	m := tinyModel(t)
	ids := tinyIDs(t) // [3, 77]
	w := HashTensor("test.loss_w", 1, 0, 3, 32)
	ref := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
	fRef := m.EncodeTextEmbeddings(ref, ids)
	fRef.BackwardWith(w)

	l := slices.Max(EOTPositions(ids)) + 1
	cut := make([][]int32, len(ids))
	for i, row := range ids {
		cut[i] = row[:l]
	}
	m.Text.FullPrompts = true
	defer func() { m.Text.FullPrompts = false }()
	m.Trace = &Trace{}
	defer func() { m.Trace = nil }()
	prompts := autograd.Param(m.TokenEmbedding(cut).Value.Clone()) // [3, L, W]
	f := m.EncodeTextEmbeddingsShared(prompts, cut, 0)
	f.BackwardWith(w)
	if got := m.Trace.Text.Blocks[0].Shape(); got[1] != ContextLength {
		t.Errorf("FullPrompts ran blocks of shape %v, want %d positions", got, ContextLength)
	}
	ef, eg := tensor.RelErr(f.Value, fRef.Value), tensor.RelErr(prompts.Grad, ref.Grad.Slice(1, 0, l))
	t.Logf("FullPrompts on cut rows vs 77-token rows: relative difference features %.2e, prompt gradients %.2e", ef, eg)
	if ef > 1e-6 || eg > 1e-6 {
		t.Errorf("FullPrompts differs from model.py's 77-token path: features %.2e, gradients %.2e (relative)", ef, eg)
	}
}

// TestLoadSafetensors goes through ckpt: save the tiny hash weights as
// safetensors, Load them, and get the same model.
func TestLoadSafetensors(t *testing.T) {
	sd := tinyStateDict(t)
	ct := map[string]*ckpt.Tensor{}
	for k, v := range sd {
		ct[k] = &ckpt.Tensor{Shape: v.Shape(), Data: v.Data()}
	}
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := ckpt.SaveSafetensors(path, nil, ct, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config != tinyConfig {
		t.Fatalf("config %+v", m.Config)
	}
	ref := tinyModel(t)
	ids := tinyIDs(t)
	var a, b *autograd.Var
	autograd.NoGrad(func() { a, b = m.EncodeText(ids), ref.EncodeText(ids) })
	if d := tensor.MaxAbsDiff(a.Value, b.Value); d != 0 {
		t.Errorf("loaded model differs by %g", d)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.pt")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// TestFrozenWeights: gradients reach the prompt embeddings; no CLIP weight
// requires grad or gets a gradient buffer.
func TestFrozenWeights(t *testing.T) {
	m := tinyModel(t)
	ids := tinyIDs(t)
	prompts := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
	img := m.EncodeImage(HashTensor("test.images", 1, 0, 2, 3, 32, 32))
	loss := autograd.CrossEntropy(m.LogitsPerImage(img, m.EncodeTextEmbeddings(prompts, ids)), []int{0, 2})
	loss.Backward()
	if prompts.Grad == nil {
		t.Fatal("prompt embeddings got no gradient")
	}
	nonzero := 0
	for _, v := range prompts.Grad.Data() {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("prompt gradient is all zero")
	}
	for _, p := range m.NamedParameters("") {
		if p.Var.RequiresGrad() || p.Var.Grad != nil {
			t.Errorf("%s: requires grad %v, grad %v", p.Name, p.Var.RequiresGrad(), p.Var.Grad != nil)
		}
	}
	if _, trainable := nn.CountParams(m); trainable != 0 {
		t.Errorf("%d trainable CLIP parameters", trainable)
	}
	// The image tower recorded no graph: its inputs and weights are frozen.
	if img.RequiresGrad() {
		t.Error("image features require grad")
	}
}

// TestInspection: the trace exposes every block's output and attention,
// and block outputs accept RetainGrad and hooks after the forward pass.
func TestInspection(t *testing.T) {
	m := tinyModel(t)
	m.Trace = &Trace{RecordAttn: true}
	ids := tinyIDs(t)
	m.EncodeImage(HashTensor("test.images", 1, 0, 2, 3, 32, 32))
	prompts := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
	feat := m.EncodeTextEmbeddings(prompts, ids)

	im, tx := &m.Trace.Image, &m.Trace.Text
	if len(im.Blocks) != 2 || len(im.Attn) != 2 || len(tx.Blocks) != 2 || len(tx.Attn) != 2 {
		t.Fatalf("trace sizes: image %d/%d text %d/%d", len(im.Blocks), len(im.Attn), len(tx.Blocks), len(tx.Attn))
	}
	if s := im.Blocks[1].Shape(); !slices.Equal(s, []int{2, 17, 128}) {
		t.Errorf("image block shape %v", s)
	}
	if s := im.Attn[0].Shape(); !slices.Equal(s, []int{2, 2, 17, 17}) {
		t.Errorf("image attention shape %v", s)
	}
	if s := tx.Attn[1].Shape(); !slices.Equal(s, []int{3, 1, 77, 77}) {
		t.Errorf("text attention shape %v", s)
	}
	if im.Input == nil || im.Final == nil || im.Features == nil || tx.Features != feat {
		t.Error("trace misses input / final / features")
	}
	// Rows of probabilities sum to 1; the text mask is causal.
	a := tx.Attn[0]
	for i := 0; i < 77; i++ {
		s := 0.0
		for j := 0; j < 77; j++ {
			v := a.At(0, 0, i, j)
			if j > i && v != 0 {
				t.Fatalf("text attention (%d,%d) = %g above the diagonal", i, j, v)
			}
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("attention row %d sums to %g", i, s)
		}
	}
	// Gradient at a layer, via RetainGrad and via a hook.
	tx.Blocks[1].RetainGrad()
	var hooked *tensor.Tensor
	tx.Blocks[0].RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { hooked = g.Clone(); return nil })
	autograd.Sum(feat, nil, false).Backward()
	if tx.Blocks[1].Grad == nil || hooked == nil {
		t.Fatal("no gradient at the traced blocks")
	}
	if !slices.Equal(hooked.Shape(), []int{3, 77, 64}) {
		t.Errorf("hooked gradient shape %v", hooked.Shape())
	}
	// Causality seen through the gradient: rows after each EOT get none.
	for j := 8; j < 77; j++ {
		for d := 0; d < 64; d++ {
			if hooked.At(0, j, d) != 0 {
				t.Fatalf("gradient at token %d after EOT", j)
			}
		}
	}
	// Without a trace nothing is recorded and MHA modules are left clean.
	m.Trace = nil
	m.EncodeText(ids)
	for _, b := range m.Text.Transformer.Resblocks {
		if b.Attn.RecordAttn || b.Attn.LastAttn != nil {
			t.Error("attention recording left on")
		}
	}
}

func TestStateDictErrors(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(sd map[string]*tensor.Tensor)
		want   []string
		keyErr *KeyError
	}{
		{"missing", func(sd map[string]*tensor.Tensor) { delete(sd, "visual.transformer.resblocks.1.mlp.c_fc.bias") },
			[]string{`missing key "visual.transformer.resblocks.1.mlp.c_fc.bias"`, "[512]"},
			&KeyError{Key: "visual.transformer.resblocks.1.mlp.c_fc.bias", Want: []int{512}, Missing: true}},
		{"shape", func(sd map[string]*tensor.Tensor) { sd["visual.proj"] = tensor.Zeros(128, 31) },
			[]string{`"visual.proj"`, "[128 31]", "expected [128 32]"},
			&KeyError{Key: "visual.proj", Want: []int{128, 32}, Got: []int{128, 31}}},
		{"transposed", func(sd map[string]*tensor.Tensor) {
			sd["transformer.resblocks.0.attn.in_proj_weight"] = tensor.Zeros(64, 192)
		},
			[]string{`"transformer.resblocks.0.attn.in_proj_weight"`, "[64 192]", "expected [192 64]"}, nil},
		{"unexpected", func(sd map[string]*tensor.Tensor) { sd["visual.extra"] = tensor.Zeros(3) },
			[]string{`unexpected key "visual.extra"`}, nil},
		{"config key", func(sd map[string]*tensor.Tensor) { delete(sd, "ln_final.weight") },
			[]string{`missing key "ln_final.weight"`}, nil},
		{"config rank", func(sd map[string]*tensor.Tensor) { sd["visual.conv1.weight"] = tensor.Zeros(128, 192) },
			[]string{`"visual.conv1.weight"`, "[128 192]", "rank 4"}, nil},
		{"narrow", func(sd map[string]*tensor.Tensor) { sd["ln_final.weight"] = tensor.Zeros(32) },
			[]string{"at least 64"}, nil},
		{"resnet", func(sd map[string]*tensor.Tensor) {
			delete(sd, "visual.proj")
			sd["visual.layer1.0.conv1.weight"] = tensor.Zeros(1)
		}, []string{"ModifiedResNet"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := tinyStateDict(t)
			c.edit(sd)
			_, err := FromStateDict(sd)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.keyErr != nil {
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != c.keyErr.Key || !slices.Equal(ke.Want, c.keyErr.Want) ||
					!slices.Equal(ke.Got, c.keyErr.Got) || ke.Missing != c.keyErr.Missing {
					t.Errorf("KeyError %+v, want %+v", ke, c.keyErr)
				}
			}
		})
	}
	// Buffers of the release archives are ignored; logit_scale may be [1].
	sd := tinyStateDict(t)
	sd["input_resolution"] = tensor.Scalar(32)
	sd["logit_scale"] = tensor.FromSlice([]float32{HashLogitScale}, 1)
	if _, err := FromStateDict(sd); err != nil {
		t.Errorf("buffers / [1] logit_scale: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	m := tinyModel(t)
	ids := tinyIDs(t)
	bad := func(name string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r == nil {
				t.Errorf("%s: no panic", name)
			} else {
				t.Logf("%s: %v", name, r)
			}
		}()
		f()
	}
	bad("image size", func() { m.EncodeImage(tensor.Zeros(1, 3, 31, 31)) })
	bad("ragged ids", func() { m.EncodeText([][]int32{ids[0], ids[1][:10]}) })
	bad("too long", func() { m.EncodeText([][]int32{make([]int32, 78)}) })
	bad("vocab", func() { m.TokenEmbedding([][]int32{{49408}}) })
	bad("prompt shape", func() { m.EncodeTextEmbeddings(autograd.Constant(tensor.Zeros(3, 77, 32)), ids) })
}

func TestHashInit(t *testing.T) {
	for _, c := range []struct {
		name          string
		shape         []int
		scale, offset float32
	}{
		{"logit_scale", nil, 0, HashLogitScale},
		{"visual.ln_pre.weight", []int{768}, 0.1, 1},
		{"transformer.resblocks.3.ln_2.bias", []int{512}, 0.1, 0},
		{"token_embedding.weight", []int{49408, 512}, 0.02, 0},
		{"positional_embedding", []int{77, 512}, 0.01, 0},
		{"visual.positional_embedding", []int{197, 768}, float32(1 / math.Sqrt(768)), 0},
		{"text_projection", []int{512, 512}, float32(1 / math.Sqrt(512)), 0},
		{"visual.conv1.weight", []int{768, 3, 16, 16}, float32(1 / math.Sqrt(768)), 0},
		{"visual.transformer.resblocks.0.mlp.c_proj.weight", []int{768, 3072}, float32(1 / math.Sqrt(3072)), 0},
		{"visual.transformer.resblocks.0.attn.in_proj_bias", []int{2304}, 0.02, 0},
	} {
		s, o := HashInit(c.name, c.shape)
		if s != c.scale || o != c.offset {
			t.Errorf("%s: (%g, %g), want (%g, %g)", c.name, s, o, c.scale, c.offset)
		}
	}
	// u is uniform on [−1, 1): mean ≈ 0, extremes close to ±1.
	x := HashTensor("test.uniform", 1, 0, 1<<16).Data()
	lo, hi, sum := 1.0, -1.0, 0.0
	for _, v := range x {
		lo, hi, sum = min(lo, float64(v)), max(hi, float64(v)), sum+float64(v)
	}
	if lo < -1 || hi >= 1 || lo > -0.999 || hi < 0.999 || math.Abs(sum/float64(len(x))) > 0.01 {
		t.Errorf("hash uniform: min %g max %g mean %g", lo, hi, sum/float64(len(x)))
	}
}

// BenchmarkEncodeImageViTB16 times one 224×224 image through the
// full-size image tower (hash weights).
func BenchmarkEncodeImageViTB16(b *testing.B) {
	m, err := NewHashCLIP(ViTB16)
	if err != nil {
		b.Fatal(err)
	}
	x := HashTensor("bench.image", 1, 0, 1, 3, 224, 224)
	b.ResetTimer()
	for b.Loop() {
		autograd.NoGrad(func() { m.EncodeImage(x) })
	}
	b.ReportMetric(35.13e9*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// Example: CoOp's use of the text tower — prompt embeddings that require
// grad go through frozen CLIP; only they receive a gradient.
func ExampleCLIP_EncodeTextEmbeddings() {
	sd, _ := HashStateDict(Config{
		EmbedDim: 32, ImageResolution: 32, VisionLayers: 1, VisionWidth: 64, VisionHeads: 1,
		VisionPatchSize: 16, ContextLength: 77, VocabSize: 49408,
		TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 1,
	})
	model, _ := FromStateDict(sd) // config inferred from the weights, as build_model
	ids, _ := Tokenize([]string{"a photo of a dog.", "a photo of a cat."}, ContextLength, false)

	prompts := autograd.Param(model.TokenEmbedding(ids).Value.Clone()) // [2, 77, 64], trainable
	txt := model.EncodeTextEmbeddings(prompts, ids)                    // [2, 32]
	var img *autograd.Var
	autograd.NoGrad(func() { img = model.EncodeImage(tensor.Zeros(1, 3, 32, 32)) })
	logits := model.LogitsPerImage(img, txt) // [1, 2]
	autograd.CrossEntropy(logits, []int{0}).Backward()

	fmt.Println(txt.Shape(), logits.Shape(), prompts.Grad.Shape(), model.Text.TextProjection.Grad == nil)
	// Output: [2 32] [1 2] [2 77 64] true
}

// TestConfigErrorsOnce: a key the configuration is read from twice
// (visual.conv1.weight: width and patch) is reported once when missing.
func TestConfigErrorsOnce(t *testing.T) {
	sd := tinyStateDict(t)
	delete(sd, "visual.conv1.weight")
	_, err := ConfigFromStateDict(sd)
	if err == nil || strings.Count(err.Error(), `"visual.conv1.weight"`) != 1 {
		t.Errorf("missing conv1: %v", err)
	}
}
