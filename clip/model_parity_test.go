package clip

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip/ckpt/ckpttest"
	"github.com/gocoop/gocoop/tensor"
)

// Parity fixtures written by bench/reference/make_parity.py (PyTorch, fp32).

const (
	parityDir           = "testdata/parity"
	parityFormatVersion = "1"
	parityTol           = 1e-4 // relative: max|got − want| / max|want|
)

// parityFile is one fixture: named float32 tensors plus string metadata.
type parityFile struct{ *ckpttest.Fixture }

// readParity reads a fixture of testdata/parity and checks its
// format_version.
func readParity(t testing.TB, name string) *parityFile {
	t.Helper()
	return &parityFile{ckpttest.Read(t, filepath.Join(parityDir, name), parityFormatVersion, "/usr/bin/python3 bench/reference/make_parity.py")}
}

// config is the model configuration in the metadata (build_model's names).
func (pf *parityFile) config(t testing.TB) Config {
	var c map[string]int
	if err := json.Unmarshal([]byte(pf.Meta["config"]), &c); err != nil {
		t.Fatalf("%s: config: %v", pf.Path, err)
	}
	return Config{
		EmbedDim: c["embed_dim"], ImageResolution: c["image_resolution"], VisionLayers: c["vision_layers"],
		VisionWidth: c["vision_width"], VisionHeads: c["vision_width"] / 64, VisionPatchSize: c["vision_patch_size"],
		ContextLength: c["context_length"], VocabSize: c["vocab_size"], TransformerWidth: c["transformer_width"],
		TransformerHeads: c["transformer_heads"], TransformerLayers: c["transformer_layers"],
	}
}

// input regenerates the hashed input name with the shape and scale in the
// metadata and checks it against the Python checksum.
func (pf *parityFile) input(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	x := pf.Input(t, name, func(name string, scale float32, shape ...int) *tensor.Tensor {
		return HashTensor(name, scale, 0, shape...)
	})
	pf.checkChecksum(t, name, x.Data())
	return x
}

func (pf *parityFile) checksums(t testing.TB) map[string]string {
	var sums map[string]string
	if err := json.Unmarshal([]byte(pf.Meta["checksums"]), &sums); err != nil {
		t.Fatalf("%s: checksums: %v", pf.Path, err)
	}
	return sums
}

func (pf *parityFile) checkChecksum(t testing.TB, name string, data []float32) {
	t.Helper()
	want, ok := pf.checksums(t)[name]
	if !ok {
		t.Fatalf("%s: no checksum for %q", pf.Path, name)
	}
	if got := strconv.FormatUint(HashChecksum(data), 10); got != want {
		t.Errorf("hash tensor %q: Go checksum %s, Python %s: the formulas differ", name, got, want)
	}
}

// ids returns the token rows stored as float32.
func (pf *parityFile) ids(t testing.TB) [][]int32 {
	x := pf.Get(t, "text.ids")
	n, l := x.Dim(0), x.Dim(1)
	d := x.Contiguous().Data()
	ids := make([][]int32, n)
	for i := range ids {
		ids[i] = make([]int32, l)
		for j := range ids[i] {
			ids[i][j] = int32(d[i*l+j])
		}
	}
	return ids
}

// checkHashWeights compares every parameter of m with Python's checksums,
// and checks that Python hashed no parameter m lacks.
func checkHashWeights(t testing.TB, pf *parityFile, m *CLIP) {
	t.Helper()
	sums := pf.checksums(t)
	seen := map[string]bool{}
	for _, p := range m.NamedParameters("") {
		pf.checkChecksum(t, p.Name, p.Var.Value.Data())
		seen[p.Name] = true
	}
	for k := range sums {
		if !seen[k] && !strings.HasPrefix(k, "parity.") {
			t.Errorf("Python parameter %q has no Go counterpart", k)
		}
	}
}

func TestParityTiny(t *testing.T) {
	pf := readParity(t, "tiny.safetensors")
	cfg := pf.config(t)
	m, err := NewHashCLIP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkHashWeights(t, pf, m)
	m.Trace = &Trace{RecordAttn: true}
	report := map[string]float64{}

	// Image tower: features, blocks, attention, and the gradient of the fake
	// loss Σ w⊙features w.r.t. the pixels.
	images := autograd.Param(pf.input(t, "parity.tiny.images"))
	m.Trace.Image.RecordAttn = true
	img := m.Visual.Forward(images, &m.Trace.Image) // the tower itself, to get the pixels' gradient
	img.BackwardWith(pf.input(t, "parity.tiny.loss_w.image"))
	report["image.features"] = pf.Compare(t, "image.features", img.Value, parityTol)
	report["grad.images"] = pf.Compare(t, "grad.images", images.Grad, parityTol)
	if len(m.Trace.Image.Blocks) != cfg.VisionLayers || len(m.Trace.Image.Attn) != cfg.VisionLayers {
		t.Fatalf("image trace: %d blocks, %d attention maps, want %d", len(m.Trace.Image.Blocks), len(m.Trace.Image.Attn), cfg.VisionLayers)
	}
	for i := range cfg.VisionLayers {
		report[fmt.Sprintf("image.blocks.%d", i)] = pf.Compare(t, fmt.Sprintf("image.blocks.%d", i), m.Trace.Image.Blocks[i].Value, parityTol)
		report[fmt.Sprintf("image.attn.%d", i)] = pf.Compare(t, fmt.Sprintf("image.attn.%d", i), m.Trace.Image.Attn[i], parityTol)
	}

	// Text tower from prompt embeddings, with the gradient at block 0.
	ids := pf.ids(t)
	prompts := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
	txt := m.EncodeTextEmbeddings(prompts, ids)
	m.Trace.Text.Blocks[0].RetainGrad()
	txt.BackwardWith(pf.input(t, "parity.tiny.loss_w.text"))
	report["text.features"] = pf.Compare(t, "text.features", txt.Value, parityTol)
	report["grad.prompts"] = pf.Compare(t, "grad.prompts", prompts.Grad, parityTol)
	report["grad.text.blocks.0"] = pf.Compare(t, "grad.text.blocks.0", m.Trace.Text.Blocks[0].Grad, parityTol)
	for i := range cfg.TransformerLayers {
		report[fmt.Sprintf("text.blocks.%d", i)] = pf.Compare(t, fmt.Sprintf("text.blocks.%d", i), m.Trace.Text.Blocks[i].Value, parityTol)
		report[fmt.Sprintf("text.attn.%d", i)] = pf.Compare(t, fmt.Sprintf("text.attn.%d", i), m.Trace.Text.Attn[i], parityTol)
	}
	report["logits"] = pf.Compare(t, "logits", m.LogitsPerImage(img, txt).Value, parityTol)

	// The plain inference path.
	m.Trace = nil
	autograd.NoGrad(func() {
		report["text.features.plain"] = pf.Compare(t, "text.features.plain", m.EncodeText(ids).Value, parityTol)
	})
	worst := 0.0
	for _, k := range slices.Sorted(maps.Keys(report)) {
		t.Logf("%-22s rel err %.2e", k, report[k])
		worst = max(worst, report[k])
	}
	t.Logf("tiny parity: worst relative error %.2e over %d tensors", worst, len(report))
}

// TestParityViTB16 runs the full-size model (150M hash weights) on two
// images and three prompts and checks it against PyTorch.
func TestParityViTB16(t *testing.T) {
	if testing.Short() {
		t.Skip("full ViT-B/16 parity (150M weights, ~90 GFLOPs) skipped under -short")
	}
	pf := readParity(t, "vitb16.safetensors")
	cfg := pf.config(t)
	if cfg != ViTB16 {
		t.Fatalf("fixture config %+v, want ViTB16", cfg)
	}
	start := time.Now()
	m, err := NewHashCLIP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hash weights: %v", time.Since(start))
	checkHashWeights(t, pf, m)

	images := pf.input(t, "parity.full.images")
	ids := pf.ids(t)
	var img, txt *autograd.Var
	autograd.NoGrad(func() {
		start = time.Now()
		img = m.EncodeImage(images)
		t.Logf("EncodeImage: %v per image", time.Since(start)/time.Duration(images.Dim(0)))
		start = time.Now()
		txt = m.EncodeText(ids)
		t.Logf("EncodeText: %v per prompt (77 tokens)", time.Since(start)/time.Duration(len(ids)))
	})
	t.Logf("image.features rel err %.2e", pf.Compare(t, "image.features", img.Value, parityTol))
	t.Logf("text.features  rel err %.2e", pf.Compare(t, "text.features", txt.Value, parityTol))
	t.Logf("logits         rel err %.2e", pf.Compare(t, "logits", m.LogitsPerImage(img, txt).Value, parityTol))

	autograd.NoGrad(func() {
		start = time.Now()
		shared := m.EncodeTextEmbeddingsShared(m.TokenEmbedding(ids), ids, 0)
		t.Logf("EncodeTextEmbeddingsShared (each prompt cut after its EOT): %v per prompt", time.Since(start)/time.Duration(len(ids)))
		t.Logf("text.features (shortcut) rel err %.2e", pf.Compare(t, "text.features", shared.Value, parityTol))
	})

	start = time.Now()
	prompts := autograd.Param(m.TokenEmbedding(ids[:1]).Value.Clone())
	feat := m.EncodeTextEmbeddings(prompts, ids[:1])
	feat.BackwardWith(pf.input(t, "parity.full.loss_w.text"))
	t.Logf("prompt forward+backward: %v", time.Since(start))
	t.Logf("grad.prompts   rel err %.2e", pf.Compare(t, "grad.prompts", prompts.Grad, parityTol))
}
