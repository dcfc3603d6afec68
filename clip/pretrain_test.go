package clip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// microConfig is small enough for finite differences over every weight of
// the image tower.
var microConfig = Config{
	EmbedDim: 6, ImageResolution: 8, VisionLayers: 1, VisionWidth: 8, VisionHeads: 2,
	VisionPatchSize: 4, ContextLength: 6, VocabSize: 10,
	TransformerWidth: 8, TransformerHeads: 2, TransformerLayers: 1,
}

func TestNewInit(t *testing.T) {
	cfg := Config{EmbedDim: 64, ImageResolution: 32, VisionLayers: 2, VisionWidth: 256, VisionHeads: 4,
		VisionPatchSize: 8, ContextLength: 16, VocabSize: 1000, TransformerWidth: 256, TransformerHeads: 4, TransformerLayers: 4}
	m, err := New(cfg, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	std := func(x *tensor.Tensor) float64 {
		var s, s2 float64
		d := x.ToSlice()
		for _, v := range d {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		n := float64(len(d))
		return math.Sqrt(s2/n - (s/n)*(s/n))
	}
	w, l := 256.0, 4.0
	want := map[string]float64{
		"token_embedding.weight":                             0.02,
		"positional_embedding":                               0.01,
		"text_projection":                                    1 / math.Sqrt(w),
		"transformer.resblocks.3.attn.in_proj_weight":        1 / math.Sqrt(w),
		"transformer.resblocks.3.attn.out_proj.weight":       1 / math.Sqrt(w) / math.Sqrt(2*l),
		"transformer.resblocks.0.mlp.c_fc.weight":            1 / math.Sqrt(2*w),
		"transformer.resblocks.1.mlp.c_proj.weight":          1 / math.Sqrt(w) / math.Sqrt(2*l),
		"visual.positional_embedding":                        1 / math.Sqrt(256),
		"visual.proj":                                        1 / math.Sqrt(256),
		"visual.transformer.resblocks.0.mlp.c_fc.weight":     1 / math.Sqrt(256) / math.Sqrt(3), // Linear default U(±1/√in)
		"visual.conv1.weight":                                1 / math.Sqrt(3*64) / math.Sqrt(3),
		"visual.transformer.resblocks.1.attn.in_proj_weight": math.Sqrt(6.0/(4*256)) / math.Sqrt(3),
	}
	sd := nn.StateDict(m, "")
	for k, s := range want {
		if got := std(sd[k]); math.Abs(got-s) > 0.05*s {
			t.Errorf("%s: std %.5g, want %.5g", k, got, s)
		}
	}
	if got := sd["logit_scale"].Item(); math.Abs(float64(got)-math.Log(1/0.07)) > 1e-6 {
		t.Errorf("logit_scale %g", got)
	}
	if got := sd["visual.ln_post.weight"].ToSlice(); got[0] != 1 || std(sd["visual.ln_post.weight"]) != 0 {
		t.Errorf("ln_post.weight %v", got[:3])
	}
	for _, p := range m.NamedParameters("") {
		if !p.Var.RequiresGrad() {
			t.Errorf("%s does not require grad", p.Name)
		}
	}
	m2, _ := New(cfg, tensor.NewRNG(1))
	for k, v := range nn.StateDict(m2, "") {
		if d := tensor.MaxAbsDiff(v, sd[k]); d != 0 {
			t.Errorf("same seed, %s differs by %g", k, d)
		}
	}
	if _, err := New(Config{}, tensor.NewRNG(1)); err == nil {
		t.Error("New accepted an empty config")
	}
}

// fdCheck checks the gradient of loss() for every parameter of params
// against finite differences (autograd.GradCheck, at most maxPerParam
// elements of each, evenly strided).
func fdCheck(t *testing.T, params []nn.NamedParam, loss func() *autograd.Var, maxPerParam int) {
	t.Helper()
	for _, p := range params {
		opt := autograd.GradCheckOptions{Rtol: 2e-2, MaxPerInput: maxPerParam}
		if _, err := autograd.GradCheck(loss, []*autograd.Var{p.Var}, opt); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
}

// The image tower's backward reaches every weight, the patch embedding
// included, and agrees with finite differences (fake loss Σ w ⊙ features).
func TestImageTowerBackwardFD(t *testing.T) {
	m, err := New(microConfig, tensor.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(4)
	images := rng.Normal(0, 1, 3, 3, 8, 8)
	w := autograd.Constant(rng.Normal(0, 1, 3, microConfig.EmbedDim))
	var params []nn.NamedParam
	for _, p := range m.NamedParameters("") {
		if strings.HasPrefix(p.Name, "visual.") {
			params = append(params, p)
		}
	}
	fdCheck(t, params, func() *autograd.Var {
		return autograd.Sum(autograd.Mul(m.EncodeImage(images), w), nil, false)
	}, 40)
}

// The whole model under the contrastive loss: every weight of both towers
// and the temperature.
func TestContrastiveModelBackwardFD(t *testing.T) {
	m, err := New(microConfig, tensor.NewRNG(5))
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(6)
	images := rng.Normal(0, 1, 3, 3, 8, 8)
	ids := [][]int32{{8, 1, 2, 9, 0, 0}, {8, 3, 9, 0, 0, 0}, {8, 4, 5, 6, 7, 9}}
	m.LogitScale.Value.Data()[0] = 1 // a moderate temperature: softmax not saturated
	// The text embeddings start at std 0.01–0.02, where a step of 1e-2
	// moves ln_1's input by its whole scale: make them O(1) first.
	m.Text.TokenEmbedding.Weight.Value.ScaleInPlace(50)
	m.Text.PositionalEmbedding.Value.ScaleInPlace(50)
	fdCheck(t, m.NamedParameters(""), func() *autograd.Var {
		return ContrastiveLoss(m.EncodeImage(images), m.EncodeText(ids), m.LogitScale)
	}, 12)
}

// ContrastiveLoss against its formula, and its gradient against finite
// differences in the features and the temperature.
func TestContrastiveLoss(t *testing.T) {
	rng := tensor.NewRNG(7)
	img := autograd.Param(rng.Normal(0, 1, 4, 5))
	txt := autograd.Param(rng.Normal(0, 1, 4, 5))
	scale := autograd.Param(tensor.Scalar(1.5))
	loss := ContrastiveLoss(img, txt, scale)

	// Reference in float64: logits = e^1.5 · cos(img_i, txt_j).
	unit := func(x *tensor.Tensor, i int) []float64 {
		row := make([]float64, 5)
		var n float64
		for k := range row {
			row[k] = float64(x.At(i, k))
			n += row[k] * row[k]
		}
		for k := range row {
			row[k] /= math.Sqrt(n)
		}
		return row
	}
	var logits [4][4]float64
	for i := range 4 {
		for j := range 4 {
			a, b := unit(img.Value, i), unit(txt.Value, j)
			for k := range a {
				logits[i][j] += math.Exp(1.5) * a[k] * b[k]
			}
		}
	}
	var want float64
	for i := range 4 {
		var rowSum, colSum float64
		for j := range 4 {
			rowSum += math.Exp(logits[i][j])
			colSum += math.Exp(logits[j][i])
		}
		want += (math.Log(rowSum) - logits[i][i] + math.Log(colSum) - logits[i][i]) / 8
	}
	if got := float64(loss.Value.Item()); math.Abs(got-want) > 1e-5 {
		t.Errorf("loss %.7g, want %.7g", got, want)
	}
	fdCheck(t, []nn.NamedParam{{Name: "img", Var: img}, {Name: "txt", Var: txt}, {Name: "logit_scale", Var: scale}},
		func() *autograd.Var { return ContrastiveLoss(img, txt, scale) }, 100)
}

func TestParamGroups(t *testing.T) {
	m, err := New(microConfig, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	g := ParamGroups(m, 0.1)
	names := func(ps []nn.NamedParam) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return strings.Join(s, " ")
	}
	decay, none := names(g[0].Params), names(g[1].Params)
	for _, n := range []string{"text_projection", "visual.proj", "visual.conv1.weight", "transformer.resblocks.0.attn.in_proj_weight",
		"visual.transformer.resblocks.0.mlp.c_fc.weight", "transformer.resblocks.0.attn.out_proj.weight"} {
		if !strings.Contains(" "+decay+" ", " "+n+" ") {
			t.Errorf("%s not decayed", n)
		}
	}
	for _, n := range []string{"logit_scale", "positional_embedding", "token_embedding.weight", "visual.class_embedding",
		"visual.positional_embedding", "ln_final.weight", "ln_final.bias", "transformer.resblocks.0.attn.in_proj_bias",
		"visual.transformer.resblocks.0.mlp.c_proj.bias", "visual.ln_pre.weight"} {
		if !strings.Contains(" "+none+" ", " "+n+" ") {
			t.Errorf("%s decayed", n)
		}
	}
	if g[0].WeightDecay != 0.1 || g[1].WeightDecay != 0 || len(g[0].Params)+len(g[1].Params) != len(m.NamedParameters("")) {
		t.Errorf("groups: %+v", g)
	}
}

// squares is the synthetic world of the pretraining test: a square of one
// of four colours, solid or striped, on a noisy grey background, at a
// random place and size; class = colour × pattern.
type squares struct {
	images *tensor.Tensor // [N, 3, 16, 16]
	labels []int
}

var (
	squareColours  = []string{"red", "green", "blue", "yellow"}
	squarePatterns = []string{"plain", "striped"}
	squareRGB      = [][3]float32{{1.5, -1, -1}, {-1, 1.5, -1}, {-1, -1, 1.5}, {1.5, 1.5, -1}}
)

func squareClass(c int) string {
	return squareColours[c/2] + " " + squarePatterns[c%2]
}

func makeSquares(n int, seed uint64) squares {
	const r = 16
	rng := tensor.NewRNG(seed)
	s := squares{images: tensor.Zeros(n, 3, r, r), labels: make([]int, n)}
	d := s.images.Data()
	for i := range n {
		c := rng.Intn(8)
		s.labels[i] = c
		rgb := squareRGB[c/2]
		size := 7 + rng.Intn(6)
		y0, x0 := rng.Intn(r-size+1), rng.Intn(r-size+1)
		for y := range r {
			for x := range r {
				in := y >= y0 && y < y0+size && x >= x0 && x < x0+size
				if c%2 == 1 && (y-y0)%4 >= 2 { // stripes: two rows on, two off
					in = false
				}
				for ch := range 3 {
					v := 0.3 * float32(rng.NormFloat64())
					if in {
						v += rgb[ch]
					}
					d[((i*3+ch)*r+y)*r+x] = v
				}
			}
		}
	}
	return s
}

var squareTemplates = []string{"a photo of a %s square.", "a %s square", "a picture of a %s square on grey", "%s square"}

// tinyPretrainConfig is the test model.
func tinyPretrainConfig(vocab int) Config {
	return Config{EmbedDim: 32, ImageResolution: 16, VisionLayers: 1, VisionWidth: 64, VisionHeads: 1, VisionPatchSize: 4,
		ContextLength: 16, VocabSize: vocab, TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 1}
}

// squareTask tokenizes every caption (each class × template) through a
// compact vocabulary and returns the batch source, the zero-shot prompts
// and the vocabulary size.
func squareTask(t testing.TB, train squares, batch int, seed uint64) (Batches, [][]int32, int) {
	t.Helper()
	var texts []string
	for c := range 8 {
		for _, tpl := range squareTemplates {
			texts = append(texts, fmt.Sprintf(tpl, squareClass(c)))
		}
	}
	rows, err := Tokenize(texts, 16, false)
	if err != nil {
		t.Fatal(err)
	}
	vocab := NewVocab(rows)
	ids, err := vocab.Map(rows)
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([][]int32, 8)
	for c := range 8 {
		prompts[c] = ids[c*len(squareTemplates)] // "a photo of a {} square."
	}
	r := 16
	batches := ShuffledBatches(train.images.Dim(0), batch, seed, func(step int, idx []int) (*tensor.Tensor, [][]int32, error) {
		rng := tensor.NewRNG(seed<<32 + uint64(step)) // templates: a function of the step
		img := tensor.Zeros(len(idx), 3, r, r)
		out := make([][]int32, len(idx))
		for k, i := range idx {
			img.Slice(0, k, k+1).CopyFrom(train.images.Slice(0, i, i+1))
			c := train.labels[i]
			out[k] = ids[c*len(squareTemplates)+rng.Intn(len(squareTemplates))]
		}
		return img, out, nil
	})
	return batches, prompts, vocab.Size()
}

// A tiny CLIP pretrained from scratch on the squares world classifies
// held-out images zero-shot far above chance (1/8).
func TestPretrainTinyZeroShot(t *testing.T) {
	train, test := makeSquares(2048, 1), makeSquares(512, 2)
	batches, prompts, vocab := squareTask(t, train, 64, 1)
	m, err := New(tinyPretrainConfig(vocab), tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	before := ZeroShotAccuracy(m, test.images, test.labels, prompts)
	var last Progress
	cfg := PretrainConfig{Steps: 150, Warmup: 15, LR: 2e-3, WeightDecay: 0.1, ClipNorm: 1,
		Progress: func(p Progress) error {
			last = p
			if p.Step%50 == 0 {
				t.Logf("step %d loss %.4f lr %.2e scale %.2f norm %.3f %v", p.Step, p.Loss, p.LR, p.Scale, p.GradNorm, p.Elapsed.Round(time.Millisecond))
			}
			return nil
		}}
	p, err := NewPretrainer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	acc := ZeroShotAccuracy(m, test.images, test.labels, prompts)
	t.Logf("zero-shot accuracy on 512 held-out images: %.1f%% (before: %.1f%%, chance 12.5%%) after %d steps in %v; final loss %.3f",
		100*acc, 100*before, cfg.Steps, time.Since(start).Round(time.Millisecond), last.Loss)
	if acc < 0.5 {
		t.Errorf("zero-shot accuracy %.1f%%, want ≥ 50%% (chance 12.5%%)", 100*acc)
	}
}

// A run split by Save and Resume into a fresh model ends with the same
// bits as the uninterrupted run, and its checkpoint loads with Load.
func TestPretrainResumeAndLoad(t *testing.T) {
	train := makeSquares(256, 3)
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.safetensors")
	run := func(steps int, resume bool) *Pretrainer {
		batches, _, vocab := squareTask(t, train, 32, 5)
		m, err := New(tinyPretrainConfig(vocab), tensor.NewRNG(7))
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPretrainer(m, PretrainConfig{Steps: 12, Warmup: 3, LR: 1e-3, WeightDecay: 0.2, ClipNorm: 0.5,
			Checkpoint: path, CheckpointEvery: 4})
		if err != nil {
			t.Fatal(err)
		}
		if resume {
			if err := p.Resume(path); err != nil {
				t.Fatal(err)
			}
		}
		for p.StepsDone() < steps {
			images, ids, err := batches(p.StepsDone())
			if err != nil {
				t.Fatal(err)
			}
			p.Step(images, ids)
		}
		return p
	}
	// Straight: 12 steps through Run (checkpoints at 4 and 8, and 12).
	batches, _, vocab := squareTask(t, train, 32, 5)
	m, _ := New(tinyPretrainConfig(vocab), tensor.NewRNG(7))
	straight, err := NewPretrainer(m, PretrainConfig{Steps: 12, Warmup: 3, LR: 1e-3, WeightDecay: 0.2, ClipNorm: 0.5,
		Checkpoint: filepath.Join(dir, "straight.safetensors"), CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := straight.Run(context.Background(), batches); err != nil {
		t.Fatal(err)
	}

	// Split: 5 steps, save, then a fresh model and optimizer resume to 12.
	first := run(5, false)
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	second := run(12, true)
	want := nn.StateDict(straight.Model, "")
	for k, v := range nn.StateDict(second.Model, "") {
		if d := tensor.MaxAbsDiff(v, want[k]); d != 0 {
			t.Errorf("resumed %s differs from the straight run by %g", k, d)
		}
	}

	// The straight run's checkpoint is a CLIP checkpoint like any other.
	loaded, err := Load(filepath.Join(dir, "straight.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range nn.StateDict(loaded, "") {
		if d := tensor.MaxAbsDiff(v, want[k]); d != 0 {
			t.Errorf("loaded %s differs by %g", k, d)
		}
	}

	// A model file whose optimizer sidecar is from another step is refused.
	if err := first.Save(filepath.Join(dir, "a.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := second.Save(filepath.Join(dir, "b.safetensors")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, OptimizerPath(filepath.Join(dir, "a.safetensors")), OptimizerPath(filepath.Join(dir, "b.safetensors")))
	err = first.Resume(filepath.Join(dir, "b.safetensors"))
	if err == nil || !strings.Contains(err.Error(), "step 12") || !strings.Contains(err.Error(), "step 5") {
		t.Errorf("torn checkpoint: err = %v", err)
	}
}

func TestVocab(t *testing.T) {
	v := NewVocab([][]int32{{SOTToken, 320, 1125, EOTToken, 0}}, [][]int32{{SOTToken, 7, EOTToken}})
	got, err := v.Map([][]int32{{SOTToken, 7, 1125, EOTToken, 0}})
	if err != nil || v.Size() != 6 || fmt.Sprint(got) != "[[4 1 3 5 0]]" {
		t.Errorf("Map = %v, %v (size %d)", got, err, v.Size())
	}
	if _, err := v.Map([][]int32{{SOTToken, 8}}); err == nil || !strings.Contains(err.Error(), "id 8") {
		t.Errorf("unknown id: err = %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPretrainStepAnchor times one step of the anchor model
// (ViT patch 7 on 28×28, width 96, 3 layers; text width 64, 2 layers;
// embed 64; context 16; batch 256; a 200-token vocabulary).
func BenchmarkPretrainStepAnchor(b *testing.B) {
	cfg := Config{EmbedDim: 64, ImageResolution: 28, VisionLayers: 3, VisionWidth: 96, VisionHeads: 1, VisionPatchSize: 7,
		ContextLength: 16, VocabSize: 200, TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2}
	m, err := New(cfg, tensor.NewRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	total, _ := nn.CountParams(m)
	b.Logf("%d parameters", total)
	p, err := NewPretrainer(m, PretrainConfig{Steps: b.N + 1, Warmup: 1, LR: 1e-3, WeightDecay: 0.1, ClipNorm: 1})
	if err != nil {
		b.Fatal(err)
	}
	rng := tensor.NewRNG(2)
	images := rng.Normal(0, 1, 256, 3, 28, 28)
	ids := make([][]int32, 256)
	for i := range ids {
		ids[i] = make([]int32, 16)
		ids[i][0] = 198
		for j := 1; j < 8; j++ {
			ids[i][j] = int32(1 + rng.Intn(190))
		}
		ids[i][8] = 199
	}
	b.ResetTimer()
	for range b.N {
		p.Step(images, ids)
	}
}

// A model whose head counts are not width/64 saves and loads back through
// the configuration in its metadata; metadata that contradicts the shapes
// is refused.
func TestLoadHeadsFromMetadata(t *testing.T) {
	m, err := New(microConfig, tensor.NewRNG(2)) // widths 8, 2 heads each
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "micro.safetensors")
	if err := SaveSafetensors(path, m, map[string]string{"producer": "test"}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config != microConfig {
		t.Fatalf("loaded config %+v, want %+v", got.Config, microConfig)
	}
	images := tensor.NewRNG(3).Normal(0, 1, 2, 3, 8, 8)
	var a, b *autograd.Var
	autograd.NoGrad(func() { a, b = m.EncodeImage(images), got.EncodeImage(images) })
	if d := tensor.MaxAbsDiff(a.Value, b.Value); d != 0 {
		t.Errorf("loaded model's image features differ by %g", d)
	}
	// Without the metadata the shapes alone give heads = width/64 = 0.
	sd := nn.StateDict(m, "")
	if _, err := FromStateDict(sd); err == nil || !strings.Contains(err.Error(), "at least 64") {
		t.Errorf("FromStateDict of width-8 towers: %v", err)
	}
	bad := microConfig
	bad.VisionLayers = 3
	if _, err := fromStateDict(sd, &bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("contradicting metadata: %v", err)
	}
}

// A cancelled Run stops between steps and leaves the checkpoint of the
// step it reached, from which Resume continues.
func TestPretrainRunCancelSaves(t *testing.T) {
	train := makeSquares(128, 4)
	batches, _, vocab := squareTask(t, train, 32, 6)
	path := filepath.Join(t.TempDir(), "clip.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	m, _ := New(tinyPretrainConfig(vocab), tensor.NewRNG(8))
	p, err := NewPretrainer(m, PretrainConfig{Steps: 10, Warmup: 2, LR: 1e-3, Checkpoint: path,
		Progress: func(pr Progress) error {
			if pr.Step == 3 {
				cancel()
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, batches); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	m2, _ := New(tinyPretrainConfig(vocab), tensor.NewRNG(9))
	p2, _ := NewPretrainer(m2, PretrainConfig{Steps: 10, Warmup: 2, LR: 1e-3})
	if err := p2.Resume(path); err != nil {
		t.Fatal(err)
	}
	if p2.StepsDone() != 3 {
		t.Errorf("resumed at step %d, want 3", p2.StepsDone())
	}
	for k, v := range nn.StateDict(m, "") {
		if d := tensor.MaxAbsDiff(v, nn.StateDict(m2, "")[k]); d != 0 {
			t.Errorf("%s differs by %g after resume", k, d)
		}
	}
}
