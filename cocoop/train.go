package cocoop

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// Batch is a batch of preprocessed images [B, 3, R, R] and their labels.
type Batch struct {
	Images *tensor.Tensor
	Labels []int
}

// BatchSource yields the batches of an epoch. The order must depend only on
// the source's configuration and the epoch, never on timing, so that runs
// (and resumed runs) are reproducible. cocoop/data's Loader fits with a few
// lines:
//
//	for b, err := range loader.Epoch(ctx, epoch) {
//		if err != nil { yield(Batch{}, err); return }
//		imgs := tensor.FromSlice(b.Images, b.Len(), 3, 224, 224)
//		if !yield(Batch{imgs, b.Labels}, nil) { return }
//	}
type BatchSource interface {
	// Batches returns the batches of a 0-based epoch; an error ends it.
	Batches(ctx context.Context, epoch int) iter.Seq2[Batch, error]
	// NumBatches is the number of batches per epoch (for progress).
	NumBatches() int
}

// SliceSource is an in-memory BatchSource: images [N, 3, R, R] with labels,
// cut into batches of BatchSize in order, or, with Shuffle, in a
// permutation drawn from tensor.NewRNG derived from (Seed, epoch). The last
// batch may be short unless DropLast.
type SliceSource struct {
	Images    *tensor.Tensor
	Labels    []int
	BatchSize int
	Shuffle   bool
	DropLast  bool
	Seed      uint64
}

// NumBatches implements BatchSource.
func (s *SliceSource) NumBatches() int {
	n, b := s.Images.Dim(0), max(1, s.BatchSize)
	if s.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Order returns the item order of epoch.
func (s *SliceSource) Order(epoch int) []int {
	n := s.Images.Dim(0)
	if s.Shuffle {
		return tensor.NewRNG(seedStream(s.Seed^uint64(epoch)*0xD1B54A32D192ED03, streamShuffle)).Perm(n)
	}
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// Batches implements BatchSource.
func (s *SliceSource) Batches(ctx context.Context, epoch int) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		order, b := s.Order(epoch), max(1, s.BatchSize)
		for k := range s.NumBatches() {
			if err := ctx.Err(); err != nil {
				yield(Batch{}, err)
				return
			}
			idx := order[k*b : min(len(order), (k+1)*b)]
			labels := make([]int, len(idx))
			for i, j := range idx {
				labels[i] = s.Labels[j]
			}
			if !yield(Batch{Images: tensor.IndexSelect(s.Images, 0, idx), Labels: labels}, nil) {
				return
			}
		}
	}
}

// Progress reports one optimizer step to Trainer.OnStep.
type Progress struct {
	Epoch, Epochs int     // 0-based epoch and the total
	Step, Steps   int     // 0-based step within the epoch and steps per epoch
	GlobalStep    int     // optimizer steps so far, this one included
	Loss          float64 // batch mean cross-entropy
	Acc           float64 // batch top-1 accuracy in percent
	LR            float64 // learning rate of the epoch
}

// EpochStats summarizes an epoch.
type EpochStats struct {
	Epoch   int
	Steps   int
	Loss    float64 // mean of the batch losses
	Acc     float64 // top-1 over the epoch's images, percent
	LR      float64
	Samples int
}

// Trainer trains a Learner with SGD (momentum, weight decay on every
// trainable; Dassl's optimizer, docs/cocoop.md §2.2) and a per-epoch schedule
// (docs/cocoop.md §2.3), one step per batch.
type Trainer struct {
	Learner Learner
	Config  Config
	Opt     *optim.SGD
	// Epoch is the next epoch to run: the number of completed epochs.
	Epoch int
	// Losses records every step's loss in order (also across a resume from
	// a checkpoint, where it restarts empty).
	Losses []float64
	// OnStep, if set, is called after every optimizer step.
	OnStep func(Progress)
	// OnBackward, if set, is called at every step after the backward pass
	// and its finiteness check, before the optimizer step: the trainables'
	// Grad then hold the batch's gradient (GradHistory.Recorder records
	// them). Progress.GlobalStep counts this step.
	OnBackward func(Progress)
	// OnEpoch, if set, is called after every epoch (e.g. to save a
	// checkpoint); an error stops training.
	OnEpoch func(EpochStats) error

	cachedEpochs int // epochs this trainer completed with an image-feature cache
}

// NewTrainer builds the optimizer over l's trainables with cfg (normally
// l.Config() with any overrides). The trainer uses cfg's optimization fields
// (Epochs, LR, Momentum, WeightDecay, warm-up, Schedule); the prompt fields
// (n_ctx, init, CSC, position, ChunkSize) are the learner's own.
func NewTrainer(l Learner, cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	params := nn.Trainable(l, "")
	if len(params) == 0 {
		return nil, errors.New("cocoop: learner has no trainable parameters")
	}
	opt := optim.NewSGD(params, float32(cfg.LR), float32(cfg.Momentum), float32(cfg.WeightDecay))
	return &Trainer{Learner: l, Config: cfg, Opt: opt}, nil
}

// Train runs the remaining epochs, t.Epoch to Config.Epochs−1.
func (t *Trainer) Train(ctx context.Context, src BatchSource) error {
	for t.Epoch < t.Config.Epochs {
		st, err := t.TrainEpoch(ctx, src)
		if err != nil {
			return err
		}
		if t.OnEpoch != nil {
			if err := t.OnEpoch(st); err != nil {
				return err
			}
		}
	}
	return nil
}

// TrainEpoch runs epoch t.Epoch at the schedule's learning rate and
// advances t.Epoch. A non-finite loss or gradient stops it with an error
// naming the epoch, step and seed; the parameters are then left as they
// were before that step.
//
// With Config.CacheImageFeatures, from this trainer's second epoch on, the
// first batch must find at least one of its images in the cache that the
// earlier epochs filled; otherwise the inputs change between epochs
// (random augmentation), the cache cannot help, and TrainEpoch returns an
// error before that step, parameters untouched.
func (t *Trainer) TrainEpoch(ctx context.Context, src BatchSource) (EpochStats, error) {
	var cache *featureCache
	if ic, ok := t.Learner.(imageCacher); ok {
		cache = ic.imageCache()
	}
	checkCache := cache != nil && t.cachedEpochs > 0 && cache.stats().Entries > 0
	e := t.Epoch
	lr := t.Config.LRSchedule().LR(e)
	t.Opt.LR = float32(lr)
	st := EpochStats{Epoch: e, LR: lr}
	nCorrect := 0
	steps := src.NumBatches()
	for b, err := range src.Batches(ctx, e) {
		if err != nil {
			return st, fmt.Errorf("cocoop: %s: %w", t.where(e, st.Steps, steps), err)
		}
		t.Opt.ZeroGrad()
		var before ImageCacheStats
		if checkCache {
			before = cache.stats()
		}
		res, err := t.Learner.ForwardBackward(b.Images, b.Labels)
		if err != nil {
			return st, fmt.Errorf("cocoop: %s: %w", t.where(e, st.Steps, steps), err)
		}
		if checkCache {
			checkCache = false
			if cache.stats().Hits == before.Hits {
				t.Opt.ZeroGrad()
				return st, fmt.Errorf("cocoop: %s: CacheImageFeatures is set, but none of the %d images of the epoch's first batch is among the %d cached from earlier epochs: the inputs change between epochs (random augmentation?); train with the image-feature cache off",
					t.where(e, st.Steps, steps), len(b.Labels), before.Entries)
			}
		}
		if err := t.checkFinite(res.Loss); err != nil {
			t.Opt.ZeroGrad()
			return st, fmt.Errorf("cocoop: %s (global step %d, seed %d): %w", t.where(e, st.Steps, steps), t.Opt.Steps()+1, t.Config.Seed, err)
		}
		acc := 100 * float64(res.Correct) / float64(len(b.Labels))
		if t.OnBackward != nil {
			t.OnBackward(Progress{
				Epoch: e, Epochs: t.Config.Epochs, Step: st.Steps, Steps: steps, GlobalStep: t.Opt.Steps() + 1,
				Loss: res.Loss, Acc: acc, LR: lr,
			})
		}
		t.Opt.Step()
		t.Opt.ZeroGrad()
		t.Losses = append(t.Losses, res.Loss)
		st.Loss += res.Loss
		st.Samples += len(b.Labels)
		nCorrect += res.Correct
		if t.OnStep != nil {
			t.OnStep(Progress{
				Epoch: e, Epochs: t.Config.Epochs, Step: st.Steps, Steps: steps, GlobalStep: t.Opt.Steps(),
				Loss: res.Loss, Acc: acc, LR: lr,
			})
		}
		st.Steps++
	}
	if st.Steps > 0 {
		st.Loss /= float64(st.Steps)
		st.Acc = 100 * float64(nCorrect) / float64(st.Samples)
	}
	t.Epoch++
	if cache != nil {
		t.cachedEpochs++
	}
	return st, nil
}

// checkFinite verifies the loss and every trainable gradient.
func (t *Trainer) checkFinite(loss float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("non-finite loss %v", loss)
	}
	for _, p := range t.Opt.Params {
		if p.Var.Grad == nil {
			continue
		}
		if onDevice(p.Var.Grad) && allFinite(p.Var.Grad) {
			continue // checked on the device; a non-finite gradient is located on the host below
		}
		for i, g := range host(p.Var.Grad).Contiguous().Data() {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				return fmt.Errorf("non-finite gradient %v of %s at element %d (loss %v)", g, p.Name, i, loss)
			}
		}
	}
	return nil
}

// allFinite reports whether every element of the device tensor g is
// finite, with one scalar downloaded: Σ 0·g is 0 exactly then, and NaN
// when an element is ±Inf or NaN.
func allFinite(g *tensor.Tensor) bool {
	s := item(tensor.Sum(tensor.MulScalar(g, 0), nil, false))
	return s == 0
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Correct, Total int
	Accuracy       float64 // percent, full precision
	Preds, Labels  []int
}

// Evaluate computes the top-1 accuracy of cl over every batch of src's
// epoch 0 (a test source is sequential).
func Evaluate(ctx context.Context, cl Classifier, src BatchSource) (EvalResult, error) {
	var r EvalResult
	for b, err := range src.Batches(ctx, 0) {
		if err != nil {
			return r, fmt.Errorf("cocoop: evaluate: %w", err)
		}
		var logits *tensor.Tensor
		if err := catch(func() { logits = cl.Logits(b.Images) }); err != nil {
			return r, fmt.Errorf("cocoop: evaluate batch %d: %w", len(r.Preds), err)
		}
		for i, p := range tensor.Argmax(logits, 1) {
			r.Preds = append(r.Preds, p)
			r.Labels = append(r.Labels, b.Labels[i])
			if p == b.Labels[i] {
				r.Correct++
			}
		}
	}
	r.Total = len(r.Preds)
	if r.Total > 0 {
		r.Accuracy = 100 * float64(r.Correct) / float64(r.Total)
	}
	return r, nil
}

// where names 0-based epoch e and step s of steps in messages, counted from
// 1 as the progress display counts them: "epoch 3/10, step 7/40".
func (t *Trainer) where(e, s, steps int) string {
	return fmt.Sprintf("epoch %d/%d, step %d/%d", e+1, t.Config.Epochs, s+1, steps)
}
