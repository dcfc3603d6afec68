package clip

// Contrastive pretraining of any CLIP configuration (Radford et al. 2021,
// §2.3 and Fig. 3; open_clip's train loop): symmetric InfoNCE over a batch
// of image–caption pairs with the learned temperature, AdamW with decoupled
// weight decay off for gains, biases, embeddings and the temperature,
// linear warm-up then cosine, optional gradient clipping, atomic
// safetensors checkpoints that every loader reads, and exact resume.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// MaxLogitScale is ln 100: CLIP clips the temperature so that the logits
// are scaled by at most 100 (the Pretrainer clamps LogitScale to
// [0, MaxLogitScale] after every step, as open_clip does).
var MaxLogitScale = math.Log(100)

// ContrastiveLoss is CLIP's symmetric InfoNCE on a batch of N matching
// pairs, raw image features img [N, E] and text features txt [N, E]:
//
//	logits = exp(logitScale) · normalize(img) · normalize(txt)ᵀ   [N, N]
//	loss   = (CE(logits, arange N) + CE(logitsᵀ, arange N)) / 2
//
// cross-entropy over rows (image → caption) and over columns (caption →
// image). logitScale is the scalar log-temperature (CLIP.LogitScale).
func ContrastiveLoss(img, txt, logitScale *autograd.Var) *autograd.Var {
	n := img.Shape()[0]
	if s := txt.Shape(); len(s) != 2 || s[0] != n || len(img.Shape()) != 2 || s[1] != img.Shape()[1] {
		panic(fmt.Sprintf("clip: ContrastiveLoss: image features %v and text features %v, want two [N, E]", img.Shape(), s))
	}
	img = autograd.L2Normalize(img, 1, 1e-12)                                                 // [N, E]
	txt = autograd.L2Normalize(txt, 1, 1e-12)                                                 // [N, E]
	logits := autograd.Mul(autograd.MatMulT(img, txt, false, true), autograd.Exp(logitScale)) // [N, N]
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i
	}
	perImage := autograd.CrossEntropy(logits, labels)
	perText := autograd.CrossEntropy(autograd.Transpose(logits, 0, 1), labels)
	return autograd.MulScalar(autograd.Add(perImage, perText), 0.5)
}

// NoWeightDecay reports whether pretraining leaves the parameter name of
// the given shape out of weight decay: gains and biases (every 1-D
// parameter), embeddings (names containing "embedding": token, positional
// and class embeddings) and the temperature (logit_scale).
func NoWeightDecay(name string, shape []int) bool {
	return len(shape) < 2 || strings.Contains(name, "embedding") || name == "logit_scale"
}

// ParamGroups splits the parameters of m that require grad into two AdamW
// groups: weight decay wd, and no decay (NoWeightDecay).
func ParamGroups(m *CLIP, wd float32) []optim.Group {
	decay, none := optim.Group{WeightDecay: wd}, optim.Group{}
	for _, p := range nn.Trainable(m, "") {
		if NoWeightDecay(p.Name, p.Var.Shape()) {
			none.Params = append(none.Params, p)
		} else {
			decay.Params = append(decay.Params, p)
		}
	}
	return []optim.Group{decay, none}
}

// Batches yields the pretraining batch of a 0-based step: images
// [B, 3, R, R] (preprocessed) and B token rows of one length ≤ C. It must
// be a function of step alone (shuffle with a seed and the epoch) so that a
// run is deterministic and a resumed run sees the same batches.
type Batches func(step int) (images *tensor.Tensor, ids [][]int32, err error)

// ShuffledBatches draws batches of batchSize from n examples, epoch after
// epoch, each epoch a fresh permutation seeded by seed and the epoch; the
// last n mod batchSize examples of each permutation are dropped. get
// assembles the batch of step from the given example indices (the
// returned Batches is not safe for concurrent use); any
// randomness it uses (caption templates, augmentation) must be seeded by
// step, not drawn from a shared generator, to keep runs resumable.
func ShuffledBatches(n, batchSize int, seed uint64, get func(step int, idx []int) (*tensor.Tensor, [][]int32, error)) Batches {
	if batchSize <= 0 || n < batchSize {
		panic(fmt.Sprintf("clip: ShuffledBatches: %d examples, batch size %d", n, batchSize))
	}
	perEpoch := n / batchSize
	epoch, perm := -1, []int(nil)
	return func(step int) (*tensor.Tensor, [][]int32, error) {
		if e := step / perEpoch; e != epoch {
			epoch, perm = e, tensor.NewRNG(seed^uint64(e+1)*0x9e3779b97f4a7c15).Perm(n)
		}
		k := step % perEpoch
		return get(step, perm[k*batchSize:(k+1)*batchSize])
	}
}

// PretrainConfig holds the hyper-parameters of a pretraining run.
type PretrainConfig struct {
	Steps       int     // optimizer steps in all
	Warmup      int     // linear warm-up steps, then cosine to 0 at Steps
	LR          float64 // peak learning rate
	WeightDecay float32 // AdamW decoupled decay of the decayed group (CLIP: 0.2)
	Beta1       float32 // 0 means 0.9
	Beta2       float32 // 0 means 0.999 (CLIP used 0.98)
	Eps         float32 // 0 means 1e-8 (CLIP used 1e-6)
	ClipNorm    float64 // clip gradients to this global L2 norm; 0: off

	// Checkpoint, when set, is the path Run saves to every CheckpointEvery
	// steps (0: only at the end) and when it finishes (Save).
	Checkpoint      string
	CheckpointEvery int

	// Progress, when set, is called after every step; an error it returns
	// stops Run with that error.
	Progress func(Progress) error
}

// Progress reports one pretraining step.
type Progress struct {
	Step     int     // steps done (1-based after the first)
	Steps    int     // total
	Loss     float64 // contrastive loss of the batch, before the step
	LR       float64 // learning rate of the step
	Scale    float64 // exp(logit_scale) after the step
	GradNorm float64 // global gradient norm before clipping
	Elapsed  time.Duration
}

// Pretrainer trains every weight of a CLIP contrastively. Build it with
// NewPretrainer, then Run (or Step batch by batch); Save and Resume
// checkpoint the model and the optimizer.
type Pretrainer struct {
	Model    *CLIP
	Opt      *optim.AdamW
	Schedule optim.Schedule
	Config   PretrainConfig

	step  int
	start time.Time
}

// NewPretrainer makes m trainable (every parameter requires grad) and sets
// up AdamW over ParamGroups and the warm-up + cosine schedule of cfg.
func NewPretrainer(m *CLIP, cfg PretrainConfig) (*Pretrainer, error) {
	if cfg.Steps <= 0 || cfg.Warmup < 0 || cfg.LR <= 0 {
		return nil, fmt.Errorf("clip: pretrain: steps %d, warm-up %d, lr %g: want steps > 0, warm-up ≥ 0, lr > 0", cfg.Steps, cfg.Warmup, cfg.LR)
	}
	nn.SetRequiresGrad(m, true)
	opt := optim.NewAdamW(ParamGroups(m, cfg.WeightDecay), float32(cfg.LR))
	if cfg.Beta1 != 0 {
		opt.Beta1 = cfg.Beta1
	}
	if cfg.Beta2 != 0 {
		opt.Beta2 = cfg.Beta2
	}
	if cfg.Eps != 0 {
		opt.Eps = cfg.Eps
	}
	return &Pretrainer{Model: m, Opt: opt, Schedule: optim.WarmupCosine(cfg.Steps, cfg.Warmup, cfg.LR), Config: cfg}, nil
}

// StepsDone returns the number of optimizer steps taken (after Resume,
// those of the checkpoint).
func (p *Pretrainer) StepsDone() int { return p.step }

// Step runs one optimizer step on a batch of matching pairs: both towers
// forward, ContrastiveLoss, backward into every weight, gradient clipping,
// AdamW at the scheduled learning rate, and the temperature clamp. It
// returns the step's report (Loss is that of the batch before the update).
// For a model on a device (CLIP.To) the host images are moved there.
func (p *Pretrainer) Step(images *tensor.Tensor, ids [][]int32) Progress {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	m := p.Model
	lr := p.Schedule.LR(p.step)
	p.Opt.LR = float32(lr)
	p.Opt.ZeroGrad()
	loss := ContrastiveLoss(m.EncodeImage(toDevice(images, m.Device())), m.EncodeText(ids), m.LogitScale)
	loss.Backward()
	params := p.Opt.Params()
	norm := math.NaN()
	if p.Config.ClipNorm > 0 {
		norm = optim.ClipGradNorm(params, p.Config.ClipNorm)
	}
	p.Opt.Step()
	p.Opt.ZeroGrad() // drop the gradients now: they are as large as the model
	var scale float32
	if lv := m.LogitScale.Value; lv.Device() != tensor.CPU {
		scale = clampDevice(lv, 0, float32(MaxLogitScale))
	} else {
		ls := lv.Data()
		ls[0] = float32(min(max(float64(ls[0]), 0), MaxLogitScale))
		scale = ls[0]
	}
	p.step++
	return Progress{Step: p.step, Steps: p.Config.Steps, Loss: float64(onHost(loss.Value).Item()), LR: lr,
		Scale: math.Exp(float64(scale)), GradNorm: norm, Elapsed: time.Since(p.start)}
}

// Run trains from the current step to Config.Steps on batches, calling
// Config.Progress after each step and checkpointing as configured. When ctx
// is cancelled it stops between steps, saves the checkpoint of the step
// reached (when Config.Checkpoint is set, so Resume continues from it) and
// returns ctx's error.
func (p *Pretrainer) Run(ctx context.Context, batches Batches) error {
	for p.step < p.Config.Steps {
		if err := ctx.Err(); err != nil {
			if c := p.Config.Checkpoint; c != "" && p.step > 0 {
				if serr := p.Save(c); serr != nil {
					return errors.Join(err, serr)
				}
			}
			return err
		}
		images, ids, err := batches(p.step)
		if err != nil {
			return fmt.Errorf("clip: pretrain: batch of step %d: %w", p.step, err)
		}
		pr := p.Step(images, ids)
		if math.IsNaN(pr.Loss) || math.IsInf(pr.Loss, 0) {
			return fmt.Errorf("clip: pretrain: loss %g at step %d", pr.Loss, pr.Step)
		}
		if f := p.Config.Progress; f != nil {
			if err := f(pr); err != nil {
				return err
			}
		}
		if c := p.Config; c.Checkpoint != "" && c.CheckpointEvery > 0 && p.step%c.CheckpointEvery == 0 && p.step < c.Steps {
			if err := p.Save(c.Checkpoint); err != nil {
				return err
			}
		}
	}
	if c := p.Config.Checkpoint; c != "" {
		return p.Save(c)
	}
	return nil
}

// Checkpoints. The model goes to path as F32 safetensors with OpenAI's
// state-dict names in named_parameters order, so Load, FromStateDict and
// every command read it as any CLIP; its metadata holds the format, the step
// and the configuration. The optimizer goes to a sidecar, OptimizerPath(path)
// (keys "exp_avg.<name>", "exp_avg_sq.<name>"; metadata: the step, AdamW's
// step count and per-parameter step counts as JSON), because FromStateDict
// rejects unknown keys. Each file is written atomically (SaveSafetensors);
// the sidecar is written first and both carry the step, so Resume detects a
// pair torn by a crash between the two renames.

// PretrainFormat is the "format" metadata of pretraining checkpoints.
const PretrainFormat = "gocoop-clip-pretrain/1"

// OptimizerPath returns the path of the optimizer sidecar of checkpoint path.
func OptimizerPath(path string) string { return path + ".optim" }

// Save writes the checkpoint of the current step (model and optimizer),
// on any device: each tensor is downloaded as it is written.
func (p *Pretrainer) Save(path string) error {
	st := p.Opt.State()
	steps, err := json.Marshal(st.ParamSteps)
	if err != nil {
		return err
	}
	step := strconv.Itoa(p.step)
	tensors := map[string]*ckpt.Tensor{}
	var names []string
	for _, np := range p.Opt.Params() {
		if m, ok := st.ExpAvg[np.Name]; ok {
			for _, kv := range []struct {
				k string
				t *tensor.Tensor
			}{{"exp_avg." + np.Name, m}, {"exp_avg_sq." + np.Name, st.ExpAvgSq[np.Name]}} {
				names = append(names, kv.k)
				tensors[kv.k] = &ckpt.Tensor{Shape: kv.t.Shape(), Data: onHost(kv.t).ToSlice()}
			}
		}
	}
	meta := map[string]string{"format": PretrainFormat, "step": step, "adamw_steps": strconv.Itoa(st.Steps), "param_steps": string(steps)}
	if err := ckpt.SaveSafetensors(OptimizerPath(path), names, tensors, meta); err != nil {
		return fmt.Errorf("clip: save optimizer state: %w", err)
	}
	if err := SaveSafetensors(path, p.Model, map[string]string{"format": PretrainFormat, "step": step}); err != nil {
		return fmt.Errorf("clip: save model: %w", err)
	}
	return nil
}

// SaveSafetensors writes the weights of m to path as safetensors (F32; F16
// for the weights m stores in float16: ConvertWeights, LoadHalfWeights) with
// OpenAI's names in named_parameters order, atomically, with metadata and
// the model's configuration as JSON under "config" (Load takes the head
// counts from it).
func SaveSafetensors(path string, m *CLIP, metadata map[string]string) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	metadata = maps.Clone(metadata)
	if metadata == nil {
		metadata = map[string]string{}
	}
	metadata["config"] = string(cfg)
	tensors := map[string]*ckpt.Tensor{}
	var names []string
	for _, np := range m.NamedParameters("") {
		names = append(names, np.Name)
		v := np.Var.Value
		if v.DType() == tensor.Float16 { // ConvertWeights / LoadHalfWeights: stays F16
			tensors[np.Name] = &ckpt.Tensor{Shape: v.Shape(), Half: v.HalfData()}
		} else {
			tensors[np.Name] = &ckpt.Tensor{Shape: v.Shape(), Data: onHost(v).ToSlice()} // one tensor downloaded at a time from a device
		}
	}
	return ckpt.SaveSafetensors(path, names, tensors, metadata)
}

// Resume loads the checkpoint at path (written by Save) into the model and
// the optimizer, in place, and continues from its step. The model must have
// the checkpoint's configuration. Errors name the file and the key at
// fault; a model file whose step differs from its sidecar's is refused.
func (p *Pretrainer) Resume(path string) error {
	meta, err := ckpt.ReadMetadata(path)
	if err != nil {
		return fmt.Errorf("clip: resume: %w", err)
	}
	ometa, err := ckpt.ReadMetadata(OptimizerPath(path))
	if err != nil {
		return fmt.Errorf("clip: resume: %w", err)
	}
	if meta["format"] != PretrainFormat || ometa["format"] != PretrainFormat {
		return fmt.Errorf("clip: resume: %s: format %q and %q, want %q", path, meta["format"], ometa["format"], PretrainFormat)
	}
	if meta["step"] != ometa["step"] {
		return fmt.Errorf("clip: resume: %s is at step %s but its optimizer state %s is at step %s (interrupted save?)",
			path, meta["step"], OptimizerPath(path), ometa["step"])
	}
	step, err := strconv.Atoi(meta["step"])
	if err != nil {
		return fmt.Errorf("clip: resume: %s: step %q: %w", path, meta["step"], err)
	}
	adamSteps, err := strconv.Atoi(ometa["adamw_steps"])
	if err != nil {
		return fmt.Errorf("clip: resume: %s: adamw_steps %q: %w", OptimizerPath(path), ometa["adamw_steps"], err)
	}
	st := optim.AdamWState{Steps: adamSteps, ExpAvg: map[string]*tensor.Tensor{}, ExpAvgSq: map[string]*tensor.Tensor{}}
	if err := json.Unmarshal([]byte(ometa["param_steps"]), &st.ParamSteps); err != nil {
		return fmt.Errorf("clip: resume: %s: param_steps: %w", OptimizerPath(path), err)
	}
	sd, err := readStateDict(path, false)
	if err != nil {
		return fmt.Errorf("clip: resume: %w", err)
	}
	osd, err := readStateDict(OptimizerPath(path), false)
	if err != nil {
		return fmt.Errorf("clip: resume: %w", err)
	}
	for k, t := range osd {
		switch {
		case strings.HasPrefix(k, "exp_avg_sq."):
			st.ExpAvgSq[strings.TrimPrefix(k, "exp_avg_sq.")] = t
		case strings.HasPrefix(k, "exp_avg."):
			st.ExpAvg[strings.TrimPrefix(k, "exp_avg.")] = t
		default:
			return fmt.Errorf("clip: resume: %s: unexpected key %q", OptimizerPath(path), k)
		}
	}
	if t, ok := sd["logit_scale"]; ok && t.Numel() == 1 {
		sd["logit_scale"] = t.Reshape()
	}
	if _, err := nn.LoadStateDict(p.Model, "", sd, true); err != nil {
		return fmt.Errorf("clip: resume: %s: %w", path, err)
	}
	if err := p.Opt.LoadState(st); err != nil {
		return fmt.Errorf("clip: resume: %s: %w", OptimizerPath(path), err)
	}
	p.step = step
	return nil
}

// ZeroShotAccuracy classifies images [N, 3, R, R] against one caption per
// class (token rows of one length) by cosine similarity, as CLIP's
// zero-shot classifier, and returns the fraction whose argmax is labels[i].
// It records no graph. For a model on a device the images are moved there
// and the similarities back.
func ZeroShotAccuracy(m *CLIP, images *tensor.Tensor, labels []int, classIDs [][]int32) float64 {
	n := images.Dim(0)
	if len(labels) != n || n == 0 {
		panic(fmt.Sprintf("clip: ZeroShotAccuracy: %d images, %d labels", n, len(labels)))
	}
	correct := 0
	autograd.NoGrad(func() {
		txt := autograd.L2Normalize(m.EncodeText(classIDs), 1, 1e-12)
		for lo := 0; lo < n; lo += 256 {
			hi := min(lo+256, n)
			img := autograd.L2Normalize(m.EncodeImage(toDevice(images.Slice(0, lo, hi).Contiguous(), m.Device())), 1, 1e-12)
			pred := tensor.Argmax(onHost(autograd.MatMulT(img, txt, false, true).Value), 1)
			for i, c := range pred {
				if c == labels[lo+i] {
					correct++
				}
			}
		}
	})
	return float64(correct) / float64(n)
}

// Vocab maps the BPE ids of a closed set of captions onto 0…n−1 in
// increasing order, so a small model needs an n-row token embedding
// instead of 49408. The map is monotone, so the EOT token stays the
// largest id (EOTPositions finds it by argmax) and the padding id 0 stays
// 0. Give the model VocabSize = Size().
type Vocab struct {
	index map[int32]int32
}

// NewVocab collects the ids of every row of every batch (plus the padding
// id 0).
func NewVocab(rows ...[][]int32) *Vocab {
	set := map[int32]bool{0: true}
	for _, r := range rows {
		for _, row := range r {
			for _, id := range row {
				set[id] = true
			}
		}
	}
	ids := make([]int32, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	v := &Vocab{index: make(map[int32]int32, len(ids))}
	for i, id := range ids {
		v.index[id] = int32(i)
	}
	return v
}

// Size is the number of ids, the VocabSize of a model using v.
func (v *Vocab) Size() int { return len(v.index) }

// Map returns rows with every id replaced by its index; an id outside the
// vocabulary is an error naming it.
func (v *Vocab) Map(rows [][]int32) ([][]int32, error) {
	out := make([][]int32, len(rows))
	var errs []error
	for r, row := range rows {
		out[r] = make([]int32, len(row))
		for j, id := range row {
			i, ok := v.index[id]
			if !ok && len(errs) < 5 {
				errs = append(errs, fmt.Errorf("clip: vocab: id %d (row %d, position %d) not in the vocabulary", id, r, j))
			}
			out[r][j] = i
		}
	}
	return out, errors.Join(errs...)
}
