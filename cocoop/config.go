package cocoop

import (
	"errors"
	"fmt"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// Methods.
const (
	MethodCoCoOp   = "cocoop"
	MethodCoOp     = "coop"
	MethodZeroShot = "zsclip"
)

// Class-token positions of CoOp (TRAINER.COOP.CLASS_TOKEN_POSITION).
const (
	PositionEnd    = "end"
	PositionMiddle = "middle"
	PositionFront  = "front"
)

// DefaultCtxInit is the word initialization of the paper's main setting.
const DefaultCtxInit = "a photo of a"

// DefaultChunkSize is the default number of class prompts per text-encoder
// call (see Config.ChunkSize).
const DefaultChunkSize = 256

// Config holds every setting of a prompt learner and its training; the
// Default* functions give the paper's values, and any field may be changed.
// It is stored in checkpoints as JSON.
type Config struct {
	Method string `json:"method"` // MethodCoCoOp or MethodCoOp

	// Prompt learner (TRAINER.{COCOOP,COOP}.*).
	NCtx               int    `json:"n_ctx"`                // context length for random init; ignored with CtxInit (n_ctx = word count)
	CtxInit            string `json:"ctx_init"`             // "" = N(0, 0.02²) init with prompt prefix "X X … X"
	CSC                bool   `json:"csc"`                  // CoOp: class-specific context [n_cls, n_ctx, W] (random init only)
	ClassTokenPosition string `json:"class_token_position"` // CoOp: end, middle or front

	// Optimization (OPTIM.*, DATALOADER.TRAIN_X.BATCH_SIZE).
	Epochs       int     `json:"max_epoch"`
	BatchSize    int     `json:"batch_size"` // for the caller's loader; the trainer takes what the BatchSource yields
	LR           float64 `json:"lr"`
	Momentum     float64 `json:"momentum"`
	WeightDecay  float64 `json:"weight_decay"`
	WarmupEpochs int     `json:"warmup_epoch"` // constant warm-up epochs (Dassl's WARMUP_TYPE constant)
	WarmupLR     float64 `json:"warmup_cons_lr"`

	// Seed drives the initialization (ctx, meta-net) and SliceSource's
	// shuffling; the same seed gives bit-identical training.
	Seed uint64 `json:"seed"`

	// ChunkSize bounds the class prompts per text-encoder call (memory
	// ∝ ChunkSize, docs/cocoop.md §8 #1/#3). 0 or a value ≥ n_cls encodes all classes
	// at once. Results do not depend on it beyond float32 rounding.
	//
	// The text tower's route (the exact shortcut, or every prompt at the
	// full 77 tokens as the official code) is the model's switch,
	// clip.TextTransformer.FullPrompts, not a prompt-learner setting.
	ChunkSize int `json:"chunk_size"`

	// CacheImageFeatures (opt-in) memoizes the frozen image encoder's
	// normalized features by the preprocessed pixels (SHA-256 of the
	// image tensor), so that an image seen again — evaluation, several
	// evaluations of a learner, training without augmentation — is encoded
	// once. Exact: a hit returns the features computed the first time. It
	// must be off with random augmentation, where every view is a new input
	// that misses and only fills memory (about 2 KiB per image at E = 512);
	// the Trainer refuses to continue (before the optimizer step) when the
	// first batch of its second or later epoch finds none of its images in
	// the cache (see Trainer.TrainEpoch). ImageCacheStatsOf reports hits
	// and misses.
	CacheImageFeatures bool `json:"cache_image_features,omitempty"`

	// Schedule, if non-nil, replaces the warm-up + cosine schedule built from
	// LR, Epochs, WarmupEpochs and WarmupLR (not stored in checkpoints).
	Schedule optim.Schedule `json:"-"`
}

// DefaultCoCoOpConfig is configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1
// (docs/cocoop.md §2.1): "a photo of a" init (n_ctx 4), batch 1, 10 epochs, SGD
// lr 0.002, momentum 0.9, weight decay 5e-4, one warm-up epoch at 1e-5 then
// cosine; seed 1.
func DefaultCoCoOpConfig() Config {
	return Config{
		Method: MethodCoCoOp, NCtx: 4, CtxInit: DefaultCtxInit, ClassTokenPosition: PositionEnd,
		Epochs: 10, BatchSize: 1, LR: 0.002, Momentum: 0.9, WeightDecay: 5e-4,
		WarmupEpochs: 1, WarmupLR: 1e-5, Seed: 1, ChunkSize: DefaultChunkSize,
	}
}

// DefaultCoOpConfig is configs/trainers/CoOp/vit_b16_ctxv1 (docs/cocoop.md §5.1):
// "a photo of a" init, generic context, class token at the end, batch 32,
// 200 epochs (vit_b16_ep50_ctxv1: 50 for ImageNet), otherwise as CoCoOp.
func DefaultCoOpConfig(imagenet bool) Config {
	c := DefaultCoCoOpConfig()
	c.Method = MethodCoOp
	c.BatchSize = 32
	c.Epochs = 200
	if imagenet {
		c.Epochs = 50
	}
	return c
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	switch c.Method {
	case MethodCoCoOp, MethodCoOp:
	default:
		return fmt.Errorf("cocoop: config: unknown method %q (want %q or %q)", c.Method, MethodCoCoOp, MethodCoOp)
	}
	if c.CtxInit == "" && c.NCtx <= 0 {
		return fmt.Errorf("cocoop: config: n_ctx %d must be positive with random init", c.NCtx)
	}
	if c.Method == MethodCoCoOp && c.CSC {
		return errors.New("cocoop: config: CoCoOp has no class-specific context (CSC)")
	}
	switch c.ClassTokenPosition {
	case "", PositionEnd:
	case PositionMiddle, PositionFront:
		if c.Method == MethodCoCoOp {
			return fmt.Errorf("cocoop: config: CoCoOp puts the class token at the end, not %q", c.ClassTokenPosition)
		}
	default:
		return fmt.Errorf("cocoop: config: class token position %q (want end, middle or front)", c.ClassTokenPosition)
	}
	if c.Epochs <= 0 {
		return fmt.Errorf("cocoop: config: max epoch %d must be positive", c.Epochs)
	}
	if c.LR <= 0 || c.Momentum < 0 || c.WeightDecay < 0 || c.WarmupEpochs < 0 {
		return fmt.Errorf("cocoop: config: invalid optimizer settings (lr %g, momentum %g, weight decay %g, warm-up epochs %d)", c.LR, c.Momentum, c.WeightDecay, c.WarmupEpochs)
	}
	if c.WarmupEpochs > 0 && c.WarmupLR <= 0 {
		return fmt.Errorf("cocoop: config: warm-up lr %g must be positive", c.WarmupLR)
	}
	return nil
}

// LRSchedule is the per-epoch schedule: Schedule if set, else Dassl's
// CosineAnnealingLR(T_max = Epochs) wrapped in ConstantWarmupScheduler
// (docs/cocoop.md §2.3).
func (c Config) LRSchedule() optim.Schedule {
	if c.Schedule != nil {
		return c.Schedule
	}
	cos := optim.Cosine{MaxEpoch: c.Epochs, BaseLR: c.LR}
	if c.WarmupEpochs == 0 {
		return cos
	}
	return optim.ConstantWarmup{After: cos, Warmup: c.WarmupEpochs, WarmupLR: c.WarmupLR}
}

// position returns ClassTokenPosition with the default applied.
func (c Config) position() string {
	if c.ClassTokenPosition == "" {
		return PositionEnd
	}
	return c.ClassTokenPosition
}

// Classifier is a CLIP-based classifier over a settable class list.
// Evaluation needs no graph: the methods return plain tensors.
type Classifier interface {
	// Method is MethodCoCoOp, MethodCoOp or MethodZeroShot.
	Method() string
	// ClassNames returns the current class list (label i = ClassNames()[i]).
	ClassNames() []string
	// SetClassNames rebuilds the class-dependent buffers for names (any
	// list, e.g. new classes or another dataset).
	SetClassNames(names []string) error
	// ImageFeatures returns the L2-normalized image features [B, E] of
	// preprocessed images [B, 3, R, R]. They depend only on the frozen image
	// encoder, so callers may cache them across classifiers.
	ImageFeatures(images *tensor.Tensor) *tensor.Tensor
	// LogitsFromFeatures maps normalized image features [B, E] to logits
	// [B, n_cls].
	LogitsFromFeatures(feats *tensor.Tensor) *tensor.Tensor
	// Logits is LogitsFromFeatures(ImageFeatures(images)).
	Logits(images *tensor.Tensor) *tensor.Tensor
}

// StepResult is the outcome of one forward/backward pass.
type StepResult struct {
	Loss    float64        // mean cross-entropy over the batch
	Correct int            // top-1 hits in the batch
	Logits  *tensor.Tensor // [B, n_cls]
}

// Learner is a Classifier with trainable prompt parameters.
type Learner interface {
	Classifier
	nn.Module // the trainable parameters, under their official names
	// Config returns the learner's configuration.
	Config() Config
	// ForwardBackward computes the mean cross-entropy of a batch and adds
	// its gradient into the trainable parameters' Grad (CLIP gets none).
	ForwardBackward(images *tensor.Tensor, labels []int) (StepResult, error)
	// CLIP returns the frozen backbone.
	CLIP() *clip.CLIP
}

// NewLearner builds the learner of cfg.Method on m for classNames.
func NewLearner(m *clip.CLIP, cfg Config, classNames []string) (Learner, error) {
	switch cfg.Method {
	case MethodCoCoOp:
		return NewCoCoOp(m, cfg, classNames)
	case MethodCoOp:
		return NewCoOp(m, cfg, classNames)
	}
	return nil, cfg.Validate()
}

// seedStream derives independent generator seeds from the run seed
// (splitmix64 of seed and a stream tag), so that adding a consumer of
// randomness never shifts another one.
func seedStream(seed uint64, stream uint64) uint64 {
	z := seed + stream*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Random streams.
const (
	streamInit    = 1 // ctx and meta-net initialization
	streamShuffle = 2 // SliceSource order, per epoch
)
