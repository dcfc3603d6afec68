package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"time"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

func init() {
	register("pretrain", &command{
		summary: "pretrain a small CLIP contrastively on the embedded world or Fashion-MNIST",
		usage:   "--out DIR [--world embedded|fashion-mnist] [--epochs N] [--batch B] [--resume] [flags]",
		help: `Trains every weight of a CLIP from scratch with CLIP's objective (symmetric
InfoNCE over a batch of image–caption pairs, learned temperature clamped at
100), AdamW with decoupled weight decay (none on gains, biases, embeddings
and the temperature), linear warm-up then cosine, optional gradient clipping:
the same clip code that runs ViT-B/16 (docs/clip.md §6).

Worlds:
  embedded       the procedural image–caption world built into the binary
                 (cocoop/data: shapes, colours, sizes, patterns, backgrounds,
                 positions and counts, captions in varied phrasings);
                 --pairs pairs per epoch, reshuffled every epoch
  fashion-mnist  Fashion-MNIST's 60000 train images (Debian's
                 dataset-fashion-mnist, or --fashion-mnist DIR) with captions
                 made from the class names, synonyms and templates

Per epoch it logs the mean loss and the zero-shot accuracy ("a photo of a
{}.") on held-out images: the world's val images of its 16 classes, or the
first 1000 Fashion-MNIST test images. The model uses CLIP's tokenizer and
context (49408 tokens, 77 positions), so every other command reads it
(--weights DIR/clip.safetensors).

Output in --out: clip.safetensors (the model, F32 safetensors with OpenAI's
names and its configuration), clip.safetensors.optim (AdamW's state, for
--resume), pretrain.json (settings, per-epoch loss and accuracy, the model's
SHA-256) and log.txt. Each is written atomically after every epoch; Ctrl-C
saves the step reached. A finished run is never replaced without
--overwrite; an unfinished one continues with --resume.

Examples:
  cocoop pretrain --out runs/world-clip
  cocoop pretrain --world fashion-mnist --out runs/fmnist-clip --epochs 3
  cocoop zeroshot --weights runs/world-clip/clip.safetensors --classes "red circle,blue square" --image x.png`,
		run: runPretrain,
	})
}

// pretrainSettings are the settings of a pretraining run, recorded in
// pretrain.json; --resume requires the same ones.
type pretrainSettings struct {
	World       string      `json:"world"`
	Captions    string      `json:"captions"`
	Seed        uint64      `json:"seed"`
	Model       clip.Config `json:"model"`
	Pairs       int         `json:"pairs_per_epoch"`
	Epochs      int         `json:"epochs"`
	Batch       int         `json:"batch"`
	LR          float64     `json:"lr"`
	Warmup      int         `json:"warmup_steps"`
	WeightDecay float64     `json:"weight_decay"`
	ClipNorm    float64     `json:"clip_norm"`
}

// steps is the run's optimizer step count.
func (s pretrainSettings) steps() int { return s.Epochs * s.stepsPerEpoch() }

func (s pretrainSettings) stepsPerEpoch() int { return s.Pairs / s.Batch }

// check validates the settings given by flags.
func (s pretrainSettings) check() error {
	switch {
	case s.Epochs < 1 || s.Batch < 2 || s.Pairs < s.Batch:
		return usagef("--epochs must be >= 1, --batch >= 2 and --pairs >= --batch (got %d, %d, %d)", s.Epochs, s.Batch, s.Pairs)
	case s.LR <= 0 || s.Warmup < 0 || s.WeightDecay < 0 || s.ClipNorm < 0:
		return usagef("--lr must be > 0 and --warmup, --weight-decay, --clip-norm >= 0")
	case s.Model.VisionWidth%s.Model.VisionHeads != 0 || s.Model.TransformerWidth%s.Model.TransformerHeads != 0:
		return usagef("--width %d is not a multiple of --heads %d", s.Model.VisionWidth, s.Model.VisionHeads)
	}
	return nil
}

// pretrainEpoch is one epoch's line of pretrain.json.
type pretrainEpoch struct {
	Epoch    int     `json:"epoch"`
	Loss     float64 `json:"loss"`              // mean over the epoch's steps
	ZeroShot float64 `json:"zeroshot_accuracy"` // percent
	Scale    float64 `json:"logit_scale_exp"`   // exp(logit_scale) at the end of the epoch
	Seconds  float64 `json:"seconds"`           // since the run (or its first part) began
}

// pretrainReport is pretrain.json.
type pretrainReport struct {
	Command  string           `json:"command"`
	Settings pretrainSettings `json:"settings"`
	Step     int              `json:"step"`
	Steps    int              `json:"steps"`
	Finished bool             `json:"finished"`
	Epochs   []pretrainEpoch  `json:"epochs"`
	ZeroShot float64          `json:"zeroshot_accuracy"` // percent, after the last epoch done
	Chance   float64          `json:"chance"`            // percent
	Seconds  float64          `json:"seconds"`           // training time over every part of the run
	SHA256   string           `json:"sha256"`            // of clip.safetensors
}

// Files of a pretraining directory.
const (
	pretrainModelFile  = "clip.safetensors"
	pretrainReportFile = "pretrain.json"
)

// pretrainWorld is what a run learns from and is checked on.
type pretrainWorld struct {
	resolution int
	n          int                                                // pairs per epoch
	pair       func(i int, rng data.Intner) (image.Image, string) // pair i; rng, seeded by the step, may vary the caption
	classes    []string                                           // zero-shot classes
	classIDs   [][]int32                                          // their prompts "a photo of a {}.", cut after the last EOT
	valImages  *tensor.Tensor                                     // [N, 3, R, R], preprocessed
	valLabels  []int
}

// The worlds' default models: ViT towers small enough to pretrain in
// minutes on two cores, with CLIP's vocabulary and context.
var (
	worldModel = clip.Config{EmbedDim: 64, ImageResolution: 32, VisionLayers: 3, VisionWidth: 128, VisionHeads: 4, VisionPatchSize: 8,
		ContextLength: 77, VocabSize: 49408, TransformerWidth: 128, TransformerHeads: 4, TransformerLayers: 3}
	fashionModel = clip.Config{EmbedDim: 64, ImageResolution: 28, VisionLayers: 3, VisionWidth: 128, VisionHeads: 4, VisionPatchSize: 7,
		ContextLength: 77, VocabSize: 49408, TransformerWidth: 128, TransformerHeads: 4, TransformerLayers: 3}
)

// defaultPretrainSettings are cocoop pretrain's defaults on world, which
// the demo's model is made with.
func defaultPretrainSettings(world string) (pretrainSettings, error) {
	s := pretrainSettings{World: world, Captions: data.CaptionsGap.String(), Seed: 1, Batch: 128, LR: 1e-3, Warmup: 50,
		WeightDecay: 0.1, ClipNorm: 1}
	switch world {
	case "embedded":
		s.Model, s.Pairs, s.Epochs = worldModel, 8192, 4
	case "fashion-mnist":
		s.Model, s.Pairs, s.Epochs = fashionModel, 60000, 2
	default:
		return s, usagef("--world must be embedded or fashion-mnist, got %q", world)
	}
	return s, nil
}

// setLength overrides the epochs and, on the embedded world, the pairs
// per epoch with the values of flags that were given (> 0).
func (s *pretrainSettings) setLength(epochs, pairs int) {
	if epochs > 0 {
		s.Epochs = epochs
	}
	if pairs > 0 && s.World == "embedded" {
		s.Pairs = pairs
	}
}

// pretrainDirName names the cache directory of a run of s: the world and
// a digest of the settings, so that other settings get another directory.
func pretrainDirName(s pretrainSettings) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("pretrain-%s-%s", s.World, hex.EncodeToString(sum[:6]))
}

// openPretrainWorld prepares world for pretraining at resolution, with
// zero-shot prompts of contextLength tokens at most.
func openPretrainWorld(world, fashionDir string, design data.CaptionDesign, seed uint64, pairs, resolution, contextLength int) (*pretrainWorld, error) {
	pw := &pretrainWorld{resolution: resolution}
	var val []image.Image
	switch world {
	case "embedded":
		w, err := data.NewWorld(data.WorldConfig{Seed: seed, ImageSize: resolution, Captions: design})
		if err != nil {
			return nil, err
		}
		pw.n = pairs
		pw.pair = func(i int, _ data.Intner) (image.Image, string) { return w.Pair(i) }
		pw.classes = data.WorldClassNames()
		for label := range pw.classes {
			for i := range 16 {
				img, _, err := w.Downstream("val", label, i)
				if err != nil {
					return nil, err
				}
				val = append(val, img)
				pw.valLabels = append(pw.valLabels, label)
			}
		}
	case "fashion-mnist":
		fm, err := data.LoadFashionMNIST(fashionDir)
		if err != nil {
			return nil, err
		}
		pw.n = fm.Train.N
		pw.pair = func(i int, rng data.Intner) (image.Image, string) {
			return fm.Train.Image(i), data.FashionCaption(int(fm.Train.Labels[i]), design, rng)
		}
		pw.classes = data.FashionClassNames()
		for i := range min(1000, fm.Test.N) {
			val = append(val, fm.Test.Image(i))
			pw.valLabels = append(pw.valLabels, int(fm.Test.Labels[i]))
		}
	default:
		return nil, usagef("--world must be embedded or fashion-mnist, got %q", world)
	}
	prompts := make([]string, len(pw.classes))
	for i, c := range pw.classes {
		prompts[i] = data.Prompt("a photo of a {}.", c)
	}
	ids, err := clip.Tokenize(prompts, contextLength, true)
	if err != nil {
		return nil, err
	}
	pw.classIDs = clip.CutAfterEOT(ids)
	pw.valImages, err = preprocessImages(val, resolution)
	return pw, err
}

// preprocessImages applies CLIP's test transform to each image.
func preprocessImages(imgs []image.Image, res int) (*tensor.Tensor, error) {
	out := tensor.Zeros(len(imgs), 3, res, res)
	d := out.Data()
	for i, img := range imgs {
		px, err := clip.Preprocess(img, res)
		if err != nil {
			return nil, err
		}
		copy(d[i*3*res*res:], px)
	}
	return out, nil
}

// batches returns the run's batch source: pairs reshuffled every epoch,
// preprocessed with CLIP's test transform, captions tokenized and cut
// after the batch's last EOT (exact under the causal mask).
func (pw *pretrainWorld) batches(s pretrainSettings) clip.Batches {
	return clip.ShuffledBatches(pw.n, s.Batch, s.Seed, func(step int, idx []int) (*tensor.Tensor, [][]int32, error) {
		rng := tensor.NewRNG(s.Seed<<32 ^ uint64(step)*0x9e3779b97f4a7c15)
		imgs := make([]image.Image, len(idx))
		caps := make([]string, len(idx))
		for k, i := range idx {
			imgs[k], caps[k] = pw.pair(i, rng)
		}
		images, err := preprocessImages(imgs, pw.resolution)
		if err != nil {
			return nil, nil, err
		}
		ids, err := clip.Tokenize(caps, s.Model.ContextLength, true)
		if err != nil {
			return nil, nil, err
		}
		return images, clip.CutAfterEOT(ids), nil
	})
}

// zeroShot is the zero-shot accuracy in percent on the world's held-out
// images with "a photo of a {}.".
func (pw *pretrainWorld) zeroShot(m *clip.CLIP) float64 {
	return 100 * clip.ZeroShotAccuracy(m, pw.valImages, pw.valLabels, pw.classIDs)
}

// fileSHA256 returns the hex SHA-256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readPretrainReport reads dir's pretrain.json.
func readPretrainReport(dir string) (*pretrainReport, error) {
	var r pretrainReport
	if err := readJSONFile(filepath.Join(dir, pretrainReportFile), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// verifyPretrained checks that dir holds a finished run of settings s whose
// model file has the recorded SHA-256; it returns the report.
func verifyPretrained(dir string, s pretrainSettings) (*pretrainReport, error) {
	r, err := readPretrainReport(dir)
	if err != nil {
		return nil, err
	}
	if !r.Finished {
		return nil, fmt.Errorf("%s: unfinished run (step %d of %d)", dir, r.Step, r.Steps)
	}
	if !reflect.DeepEqual(r.Settings, s) {
		return nil, fmt.Errorf("%s: made with other settings (%+v, want %+v)", dir, r.Settings, s)
	}
	sum, err := fileSHA256(filepath.Join(dir, pretrainModelFile))
	if err != nil {
		return nil, err
	}
	if sum != r.SHA256 {
		return nil, fmt.Errorf("%s: SHA-256 %s, but %s records %s (corrupt or changed)", filepath.Join(dir, pretrainModelFile), sum, pretrainReportFile, r.SHA256)
	}
	return r, nil
}

// pretrainJob is one pretraining run.
type pretrainJob struct {
	dir        string
	settings   pretrainSettings
	fashionDir string
	resume     bool
	overwrite  bool
	rep        *reporter
	onStep     func(step int) // called after every step (tests stop runs with it)
	device     tensor.Device  // --device (nil: the CPU)
}

func runPretrain(fs *flag.FlagSet, args []string, stdout io.Writer) (err error) {
	out := fs.String("out", "", "output `directory` (required)")
	world := fs.String("world", "embedded", "embedded or fashion-mnist")
	fashionDir := fs.String("fashion-mnist", "", "`directory` of Fashion-MNIST's IDX files (default "+data.FashionMNISTDir+")")
	captions := fs.String("captions", "gap", "caption design: gap (one base-class pair named inconsistently, the default; see docs/cocoop.md §9) or plain")
	seed := fs.Uint64("seed", 1, "seed of the weights, the world's pairs and their order")
	epochs := fs.Int("epochs", 0, "epochs (default: embedded 4, fashion-mnist 2)")
	pairs := fs.Int("pairs", 0, "embedded world: pairs per epoch (default 8192)")
	def, _ := defaultPretrainSettings("embedded")
	batch := fs.Int("batch", def.Batch, "pairs per step (the contrastive batch)")
	lr := fs.Float64("lr", def.LR, "peak AdamW learning rate")
	warmup := fs.Int("warmup", def.Warmup, "linear warm-up steps, then cosine to 0")
	wd := fs.Float64("weight-decay", def.WeightDecay, "AdamW decoupled weight decay (gains, biases, embeddings and the temperature get none)")
	clipNorm := fs.Float64("clip-norm", def.ClipNorm, "clip gradients to this global L2 norm (0: off)")
	width := fs.Int("width", 0, "width of both towers (default 128)")
	layers := fs.Int("layers", 0, "blocks per tower (default 3)")
	heads := fs.Int("heads", 0, "attention heads per tower (default 4)")
	resume := fs.Bool("resume", false, "continue the unfinished run in --out")
	overwrite := fs.Bool("overwrite", false, "replace the run in --out")
	rf := addRunFlags(fs)
	deviceName := addDeviceFlag(fs)
	restore, err := rf.parse(fs, args)
	if err != nil {
		return err
	}
	defer restore()
	dev, err := openDevice(*deviceName)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required (directory for the model, its optimizer state and pretrain.json)")
	}
	design, err := data.ParseCaptionDesign(*captions)
	if err != nil {
		return usagef("--captions: %v", err)
	}
	s, err := defaultPretrainSettings(*world)
	if err != nil {
		return err
	}
	s.Captions, s.Seed, s.Batch, s.LR, s.Warmup, s.WeightDecay, s.ClipNorm = design.String(), *seed, *batch, *lr, *warmup, *wd, *clipNorm
	s.setLength(*epochs, *pairs)
	if *width > 0 {
		s.Model.VisionWidth, s.Model.TransformerWidth = *width, *width
	}
	if *layers > 0 {
		s.Model.VisionLayers, s.Model.TransformerLayers = *layers, *layers
	}
	if *heads > 0 {
		s.Model.VisionHeads, s.Model.TransformerHeads = *heads, *heads
	}
	if err := s.check(); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	rep := newReporter(stderrOf(fs), rf.quiet)
	r, err := pretrain(ctx, pretrainJob{dir: *out, settings: s, fashionDir: *fashionDir, resume: *resume, overwrite: *overwrite, rep: rep, device: dev})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pretrained %s CLIP: zero-shot accuracy %.1f%% on held-out images (chance %.1f%%), loss %.3f, %d steps in %s\nmodel: %s\n",
		s.World, r.ZeroShot, r.Chance, r.Epochs[len(r.Epochs)-1].Loss, r.Steps, fmtDuration(time.Duration(r.Seconds*float64(time.Second))),
		filepath.Join(*out, pretrainModelFile))
	return nil
}

// pretrain runs job and returns its finished report.
func pretrain(ctx context.Context, job pretrainJob) (_ *pretrainReport, err error) {
	s, dir, rep := job.settings, job.dir, job.rep
	modelPath := filepath.Join(dir, pretrainModelFile)
	prev, perr := readPretrainReport(dir)
	_, merr := os.Stat(modelPath)
	exists := perr == nil || merr == nil
	switch {
	case exists && job.overwrite:
	case exists && job.resume:
		if perr != nil {
			return nil, fmt.Errorf("--resume: %w", perr)
		}
		if prev.Finished {
			return nil, fmt.Errorf("%s already holds a finished pretraining run (step %d of %d); --overwrite replaces it", dir, prev.Step, prev.Steps)
		}
		if !reflect.DeepEqual(prev.Settings, s) {
			return nil, fmt.Errorf("--resume: %s was started with other settings (%+v); run with the same flags, or --overwrite", dir, prev.Settings)
		}
	case exists && perr == nil && prev.Finished:
		return nil, fmt.Errorf("%s already holds a finished pretraining run (step %d of %d); --overwrite replaces it", dir, prev.Step, prev.Steps)
	case exists:
		return nil, fmt.Errorf("%s already holds an unfinished pretraining run; --resume continues it, --overwrite replaces it", dir)
	case job.resume:
		return nil, fmt.Errorf("--resume: %s holds no pretraining run", dir)
	}
	design, _ := data.ParseCaptionDesign(s.Captions)
	pw, err := openPretrainWorld(s.World, job.fashionDir, design, s.Seed, s.Pairs, s.Model.ImageResolution, s.Model.ContextLength)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(logf, "error: %v\n", err)
		}
		logf.Close()
	}()
	rep = rep.withLog(logf)
	if os.Getenv("GOGC") == "" {
		// The command's GOGC 20 (tensor.SetGCDefaults, at least 64 MB of
		// room) bounds the heap's headroom by the weights of a large frozen
		// model. Here the live heap is a small model and its AdamW moments
		// (~100 MB) while a step allocates several hundred MB of
		// activations and gradients, so the collector runs many times a
		// step. Go's default 100 took one epoch of the embedded world's
		// default model in 12.8–12.9 s against 16.1–17.2 s (user CPU
		// 19.4–19.6 against 22.2–22.6 s), at 1.11–1.14 GB peak RSS
		// against 0.45–0.47 GB, the same weights either way (2026-12-05,
		// two alternations of "cocoop pretrain --epochs 1").
		defer tensor.SetGCPercent(tensor.SetGCPercent(100))
	}
	perEpoch := s.stepsPerEpoch()
	report := &pretrainReport{Command: "pretrain", Settings: s, Steps: s.steps(), Chance: 100 / float64(len(pw.classes))}
	var p *clip.Pretrainer
	// save writes the model and its optimizer state, then the report with
	// the model's digest: a crash between the two leaves a report whose
	// digest no longer matches, which the demo's check rejects.
	save := func() error {
		if err := p.Save(modelPath); err != nil {
			return err
		}
		sum, err := fileSHA256(modelPath)
		if err != nil {
			return err
		}
		report.Step, report.SHA256, report.Finished = p.StepsDone(), sum, p.StepsDone() == report.Steps
		return writeJSON(filepath.Join(dir, pretrainReportFile), report)
	}
	start, secondsBefore := time.Now(), 0.0
	var epochLoss float64
	var epochSteps int
	var t *task
	cfg := clip.PretrainConfig{Steps: s.steps(), Warmup: s.Warmup, LR: s.LR, WeightDecay: float32(s.WeightDecay),
		Beta2: 0.98, Eps: 1e-6, ClipNorm: s.ClipNorm, // CLIP's AdamW settings
		Progress: func(pr clip.Progress) error {
			if job.onStep != nil {
				job.onStep(pr.Step)
			}
			epochLoss += pr.Loss
			epochSteps++
			e := (pr.Step-1)/perEpoch + 1
			status := fmt.Sprintf("epoch %d/%d loss %.3f", e, s.Epochs, pr.Loss)
			t.step(1, status, fmt.Sprintf("%s lr %.2e scale %.1f", status, pr.LR, pr.Scale))
			if pr.Step%perEpoch != 0 {
				return nil
			}
			acc := pw.zeroShot(p.Model)
			ep := pretrainEpoch{Epoch: e, Loss: epochLoss / float64(epochSteps), ZeroShot: acc, Scale: pr.Scale,
				Seconds: secondsBefore + time.Since(start).Seconds()}
			epochLoss, epochSteps = 0, 0
			report.Epochs = append(report.Epochs, ep)
			report.ZeroShot, report.Seconds = acc, ep.Seconds
			t.printf("pretrain: epoch %d/%d: loss %.4f, zero-shot accuracy %.1f%% (chance %.1f%%), scale %.1f, %s",
				e, s.Epochs, ep.Loss, acc, report.Chance, pr.Scale, fmtDuration(time.Duration(ep.Seconds*float64(time.Second))))
			return save()
		}}
	m, err := clip.New(s.Model, tensor.NewRNG(s.Seed))
	if err != nil {
		return nil, err
	}
	if job.device != nil && job.device != tensor.CPU {
		if _, err := m.To(job.device); err != nil {
			return nil, err
		}
		rep.logf("pretrain: the model on %v", job.device)
	}
	if p, err = clip.NewPretrainer(m, cfg); err != nil {
		return nil, err
	}
	if job.resume {
		if err := p.Resume(modelPath); err != nil {
			return nil, err
		}
		// Epochs end with a save, so the run resumes at an epoch boundary
		// unless Ctrl-C stopped it within one; that epoch's mean then
		// covers its remaining steps only.
		report.Epochs = prev.Epochs[:min(len(prev.Epochs), p.StepsDone()/perEpoch)]
		if n := len(report.Epochs); n > 0 {
			secondsBefore = report.Epochs[n-1].Seconds
		}
		rep.logf("pretrain: resuming %s at step %d of %d", modelPath, p.StepsDone(), report.Steps)
	} else {
		for _, f := range []string{modelPath, clip.OptimizerPath(modelPath), filepath.Join(dir, pretrainReportFile)} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	fmt.Fprintf(logf, "pretrain %+v\n", s)
	rep.logf("pretrain: %s world, %d pairs per epoch, %d epochs of %d steps (batch %d); towers of %d blocks, width %d; %s parameters",
		s.World, s.Pairs, s.Epochs, perEpoch, s.Batch, s.Model.VisionLayers, s.Model.VisionWidth, humanCount(numParams(m)))
	t = rep.start("pretrain", report.Steps-p.StepsDone(), 0)
	err = p.Run(ctx, pw.batches(s))
	t.finish()
	if errors.Is(err, context.Canceled) {
		if serr := save(); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, interrupted("pretraining saved at step %d of %d in %s; continue with --resume", p.StepsDone(), report.Steps, dir)
	}
	if err != nil {
		return nil, err
	}
	return report, nil
}

// numParams is the number of weights of m.
func numParams(m *clip.CLIP) int {
	n := 0
	for _, p := range m.NamedParameters("") {
		n += p.Var.Value.Numel()
	}
	return n
}

// humanCount is n with a k or M suffix.
func humanCount(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
