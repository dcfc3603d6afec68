package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	"iter"
	"runtime"
	"strings"
	"sync"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// Transform turns one image file into a float32 CHW image. rng is the
// item's own generator, seeded from (loader seed, epoch, item index), so a
// result never depends on which worker ran it; deterministic transforms
// ignore it. It is called from several goroutines at once. Errors should
// name the path (clip.LoadImage's do).
type Transform func(path string, rng *tensor.RNG) ([]float32, error)

// readImage is Dassl's read_image: the file decoded and converted to RGB
// (Image.open(path).convert("RGB")) before any transform. This order is the
// official CoOp data path's, for training and evaluation alike; it differs
// from openai/CLIP's preprocess, which resizes palette, bilevel and alpha
// images in their own mode and converts last (the order of the single-image
// commands, clip.Preprocess on clip.LoadImage's image).
func readImage(path string) (image.Image, error) {
	img, err := clip.LoadImage(path)
	if err != nil {
		return nil, err
	}
	rgb, err := clip.ConvertRGB(img)
	if err != nil {
		return nil, fmt.Errorf("data: image %s: %w", path, err)
	}
	return rgb, nil
}

// TestTransform is Dassl's test transform on readImage's RGB image:
// clip.Preprocess (resize the short side to size bicubic, centre crop,
// CLIP normalisation).
func TestTransform(size int) Transform {
	return func(path string, _ *tensor.RNG) ([]float32, error) {
		img, err := readImage(path)
		if err != nil {
			return nil, err
		}
		return clip.Preprocess(img, size)
	}
}

// TrainTransform is Dassl's train transform on readImage's RGB image:
// clip.PreprocessTrain (RandomResizedCrop, horizontal flip, CLIP
// normalisation) drawing from the item's rng.
func TrainTransform(size int) Transform {
	return func(path string, rng *tensor.RNG) ([]float32, error) {
		img, err := readImage(path)
		if err != nil {
			return nil, err
		}
		return clip.PreprocessTrain(img, size, rng)
	}
}

// Memoize returns tf with each path's output kept, up to maxBytes of
// images in all (paths past that are transformed at every call), and handed
// out again at later calls: an image is read and transformed once however
// many epochs read it. Only for a transform that ignores its generator, as
// TestTransform does (cocoop train --no-augment trains on it); a path whose
// transform fails is not kept. Safe for a loader's concurrent workers; the
// kept slices are shared, and the loader only copies them into its batches.
func Memoize(tf Transform, maxBytes int64) Transform {
	var mu sync.Mutex
	kept := map[string][]float32{}
	var used int64
	return func(path string, rng *tensor.RNG) ([]float32, error) {
		mu.Lock()
		img, ok := kept[path]
		mu.Unlock()
		if ok {
			return img, nil
		}
		img, err := tf(path, rng)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := kept[path]; !ok && used+4*int64(len(img)) <= maxBytes {
			kept[path] = img
			used += 4 * int64(len(img))
		}
		return img, nil
	}
}

// LoaderConfig configures a [Loader].
type LoaderConfig struct {
	BatchSize int  // items per batch; must be >= 1
	Shuffle   bool // a new permutation each epoch, seeded by (Seed, epoch), like RandomSampler
	// DropLast drops an incomplete last batch, but only when there are at
	// least BatchSize items (Dassl: drop_last = is_train and
	// len(data_source) >= batch_size).
	DropLast bool
	Seed     uint64 // seeds the shuffle and the per-item generators
	Workers  int    // decoding goroutines; 0 means GOMAXPROCS
	// Prefetch is how many items may be decoded ahead of the consumer;
	// 0 means max(BatchSize, 2·Workers).
	Prefetch int
	// SkipUnreadable skips items whose transform fails, counting them in
	// Stats; batches are filled with the following items. Without it the
	// first failing item (in epoch order) ends the epoch with its error.
	SkipUnreadable bool
}

// TrainConfig is Dassl's train loader: RandomSampler, drop_last as Dassl.
func TrainConfig(batchSize int, seed uint64) LoaderConfig {
	return LoaderConfig{BatchSize: batchSize, Shuffle: true, DropLast: true, Seed: seed}
}

// TestConfig is Dassl's val/test loader: sequential, keeping the last
// batch.
func TestConfig(batchSize int) LoaderConfig {
	return LoaderConfig{BatchSize: batchSize}
}

// Batch is one batch of images in epoch order.
type Batch struct {
	Images  []float32 // [B, C, H, W] flattened (C·H·W = ImageLen)
	Labels  []int     // [B]
	Paths   []string  // [B]
	Indices []int     // [B] positions in the loader's item list
	// ImageLen is the length of one image (3·224·224 for CLIP).
	ImageLen int
}

// Len is the number of items in the batch.
func (b *Batch) Len() int { return len(b.Labels) }

// Stats counts the items skipped by a loader with SkipUnreadable, over all
// its epochs.
type Stats struct {
	Skipped      int      // items skipped
	FirstSkipped []string // the first paths skipped (at most 10)
	FirstError   string   // the error of the first skipped item
}

const maxSkippedPaths = 10

// Loader decodes items in parallel and yields them in batches, in an order
// that depends only on (items, config, epoch), never on the number of
// workers or their scheduling. Epochs may run concurrently.
type Loader struct {
	items []Datum
	tf    Transform
	cfg   LoaderConfig

	mu    sync.Mutex
	stats Stats
}

// NewLoader returns a loader of items through tf.
func NewLoader(items []Datum, tf Transform, cfg LoaderConfig) (*Loader, error) {
	if tf == nil {
		return nil, errors.New("data: NewLoader: nil transform")
	}
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("data: NewLoader: batch size %d < 1", cfg.BatchSize)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = max(cfg.BatchSize, 2*cfg.Workers)
	}
	return &Loader{items: items, tf: tf, cfg: cfg}, nil
}

// dropLast is Dassl's rule.
func (l *Loader) dropLast() bool { return l.cfg.DropLast && len(l.items) >= l.cfg.BatchSize }

// NumBatches is the number of batches of an epoch (fewer when items are
// skipped).
func (l *Loader) NumBatches() int {
	n, b := len(l.items), l.cfg.BatchSize
	if l.dropLast() {
		return n / b
	}
	return (n + b - 1) / b
}

// Stats returns the skip counts so far.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.FirstSkipped = append([]string(nil), s.FirstSkipped...)
	return s
}

// Order returns the item indices of an epoch in batch order: 0..n-1, or
// with Shuffle a permutation from tensor.NewRNG(hash(Seed, epoch)).
func (l *Loader) Order(epoch int) []int {
	n := len(l.items)
	if l.cfg.Shuffle {
		return tensor.NewRNG(mix(mix(l.cfg.Seed^0x5348_5546_464c_4521) ^ uint64(epoch))).Perm(n)
	}
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// ItemSeed is the seed of the generator passed to the transform for item
// index idx (a position in the item list) in epoch.
func ItemSeed(seed uint64, epoch, idx int) uint64 {
	return mix(mix(mix(seed^0x4954_454d_5345_4544)^uint64(epoch)) ^ uint64(idx))
}

// mix is SplitMix64's finaliser.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

type itemResult struct {
	pos int
	img []float32
	err error
}

// Epoch returns the batches of epoch (0-based). Workers decode up to
// Prefetch items ahead of the consumer; breaking out of the loop or
// cancelling ctx stops them before Epoch's iterator returns. An error
// (a failing item without SkipUnreadable, inconsistent image sizes, or
// ctx's error) is yielded once, with a nil batch, and ends the epoch.
//
//	for b, err := range loader.Epoch(ctx, epoch) {
//		if err != nil { return err }
//		... b.Images, b.Labels ...
//	}
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		order := l.Order(epoch)
		n := len(order)
		if n == 0 {
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		window := l.cfg.Prefetch
		jobs := make(chan int)
		results := make(chan itemResult, window)
		tokens := make(chan struct{}, window)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		wg.Go(func() { // feeder: at most window items in flight or pending
			defer close(jobs)
			for pos := range n {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- pos:
				case <-ctx.Done():
					return
				}
			}
		})
		for range min(l.cfg.Workers, n) {
			wg.Go(func() {
				for pos := range jobs {
					idx := order[pos]
					img, err := l.tf(l.items[idx].ImPath, tensor.NewRNG(ItemSeed(l.cfg.Seed, epoch, idx)))
					select {
					case results <- itemResult{pos, img, err}:
					case <-ctx.Done():
						return
					}
				}
			})
		}

		bs := l.cfg.BatchSize
		pending := make(map[int]itemResult, window)
		var b *Batch
		imgLen := -1
		for next := 0; next < n; {
			if err := ctx.Err(); err != nil {
				yield(nil, fmt.Errorf("data: loader epoch %d: %w", epoch, err))
				return
			}
			r, ok := pending[next]
			if !ok {
				select {
				case r := <-results:
					pending[r.pos] = r
				case <-ctx.Done():
					yield(nil, fmt.Errorf("data: loader epoch %d: %w", epoch, ctx.Err()))
					return
				}
				continue
			}
			delete(pending, next)
			next++
			<-tokens
			d := l.items[order[r.pos]]
			if r.err != nil {
				err := r.err
				if !strings.Contains(err.Error(), d.ImPath) {
					err = fmt.Errorf("%s: %w", d.ImPath, err)
				}
				if l.cfg.SkipUnreadable {
					l.skip(d.ImPath, err)
					continue
				}
				yield(nil, fmt.Errorf("data: loader epoch %d, item %d: %w", epoch, order[r.pos], err))
				return
			}
			if imgLen < 0 {
				imgLen = len(r.img)
			} else if len(r.img) != imgLen {
				yield(nil, fmt.Errorf("data: loader epoch %d: %s gave %d values, earlier images %d", epoch, d.ImPath, len(r.img), imgLen))
				return
			}
			if b == nil {
				b = &Batch{Images: make([]float32, 0, bs*imgLen), ImageLen: imgLen}
			}
			b.Images = append(b.Images, r.img...)
			b.Labels = append(b.Labels, d.Label)
			b.Paths = append(b.Paths, d.ImPath)
			b.Indices = append(b.Indices, order[r.pos])
			if b.Len() == bs {
				if !yield(b, nil) {
					return
				}
				b = nil
			}
		}
		if b != nil && !l.dropLast() {
			yield(b, nil)
		}
	}
}

func (l *Loader) skip(path string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stats.Skipped == 0 {
		l.stats.FirstError = err.Error()
	}
	l.stats.Skipped++
	if len(l.stats.FirstSkipped) < maxSkippedPaths {
		l.stats.FirstSkipped = append(l.stats.FirstSkipped, path)
	}
}
