package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"strconv"

	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// Image features of dataset splits: encoded once by the frozen image
// encoder, cached by item list, then classified.

// features are the normalized image features of a split, computed once
// (the image encoder is frozen and the test transform deterministic) and
// reused across checkpoints and seeds (docs/cocoop.md §8 #2).
type features struct {
	x       []float32 // [n, dim]
	labels  []int
	dim     int
	skipped data.Stats
}

func (f *features) n() int { return len(f.labels) }

// evalOptions configure evaluation.
type evalOptions struct {
	res     int  // the model's image resolution
	batch   int  // images per batch
	workers int  // --workers
	skip    bool // --skip-unreadable
}

// encodeSplit computes the image features of items with cl's frozen image
// encoder and the test transform.
func encodeSplit(ctx context.Context, cl cocoop.Classifier, items []data.Datum, o evalOptions, rep *reporter, name string) (*features, error) {
	cfg := data.TestConfig(o.batch)
	cfg.Workers, cfg.SkipUnreadable = o.workers, o.skip
	src, err := newLoaderSource(items, data.TestTransform(o.res), cfg, o.res)
	if err != nil {
		return nil, err
	}
	f := &features{}
	t := rep.start(name+": image features", len(items), 0)
	defer t.finish()
	for b, err := range src.Batches(ctx, 0) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var x *tensor.Tensor
		if err := catch(func() { x = cl.ImageFeatures(b.Images) }); err != nil {
			return nil, fmt.Errorf("%s: image features: %w", name, err)
		}
		f.dim = x.Dim(1)
		f.x = append(f.x, x.ToSlice()...)
		f.labels = append(f.labels, b.Labels...)
		t.step(len(b.Labels), fmt.Sprintf("%d images", f.n()), "")
	}
	f.skipped = src.l.Stats()
	if f.skipped.Skipped > 0 {
		t.step(f.skipped.Skipped, "", fmt.Sprintf("%d unreadable images skipped", f.skipped.Skipped))
	}
	return f, nil
}

// evaluateItems classifies items with cl through cocoop.Evaluate on their
// image features, taken from cache or encoded (and kept there unless cache
// is nil). It also returns the images skipped as unreadable.
func evaluateItems(ctx context.Context, cl cocoop.Classifier, items []data.Datum, o evalOptions, rep *reporter, name string, cache featuresByItems) (cocoop.EvalResult, data.Stats, error) {
	f, err := cache.get(ctx, cl, items, o, rep, name)
	if err != nil {
		return cocoop.EvalResult{}, data.Stats{}, err
	}
	r, err := evaluateFeatures(ctx, cl, f, o.batch, rep, name)
	return r, f.skipped, err
}

// evaluateFeatures evaluates cl on cached features through
// cocoop.Evaluate, batch images at a time.
func evaluateFeatures(ctx context.Context, cl cocoop.Classifier, f *features, batch int, rep *reporter, name string) (cocoop.EvalResult, error) {
	t := rep.start(name+": classify", f.n(), 0)
	defer t.finish()
	r, err := cocoop.Evaluate(ctx, featureClassifier{cl}, &featureSource{f: f, batch: batch, t: t})
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// featureClassifier is a cocoop.Classifier whose Logits takes normalized
// image features [B, E] instead of images: with a featureSource it lets
// cocoop.Evaluate run on cached features.
type featureClassifier struct{ cocoop.Classifier }

// Logits implements cocoop.Classifier on features.
func (c featureClassifier) Logits(feats *tensor.Tensor) *tensor.Tensor {
	return c.LogitsFromFeatures(feats)
}

// featureSource is a cocoop.BatchSource over cached features: each Batch's
// Images holds features [B, E] (for featureClassifier). Every batch handed
// on advances t.
type featureSource struct {
	f     *features
	batch int
	t     *task
}

// NumBatches implements cocoop.BatchSource.
func (s *featureSource) NumBatches() int { return (s.f.n() + s.batch - 1) / s.batch }

// Batches implements cocoop.BatchSource; every epoch is the same.
func (s *featureSource) Batches(ctx context.Context, _ int) iter.Seq2[cocoop.Batch, error] {
	return func(yield func(cocoop.Batch, error) bool) {
		f := s.f
		for lo := 0; lo < f.n(); lo += s.batch {
			if err := ctx.Err(); err != nil {
				yield(cocoop.Batch{}, err)
				return
			}
			hi := min(lo+s.batch, f.n())
			x := tensor.FromSlice(f.x[lo*f.dim:hi*f.dim], hi-lo, f.dim)
			if !yield(cocoop.Batch{Images: x, Labels: f.labels[lo:hi]}, nil) {
				return
			}
			s.t.step(hi-lo, fmt.Sprintf("%d images", hi), "")
		}
	}
}

// featuresByItems keeps the features of item lists, keyed by a hash of
// the items' image paths and labels (cocoop's own cache is keyed by image
// content). base2new evaluates every seed on the same test items.
type featuresByItems map[uint64]*features

// itemsKey hashes the image paths and labels of items.
func itemsKey(items []data.Datum) uint64 {
	h := fnv.New64a()
	for _, d := range items {
		io.WriteString(h, d.ImPath)
		io.WriteString(h, "\x00"+strconv.Itoa(d.Label)+"\n")
	}
	return h.Sum64()
}

// get returns the cached features of items or computes them (and keeps
// them unless c is nil).
func (c featuresByItems) get(ctx context.Context, cl cocoop.Classifier, items []data.Datum, o evalOptions, rep *reporter, name string) (*features, error) {
	k := itemsKey(items)
	if f, ok := c[k]; ok {
		return f, nil
	}
	f, err := encodeSplit(ctx, cl, items, o, rep, name)
	if err != nil {
		return nil, err
	}
	if c != nil {
		c[k] = f
	}
	return f, nil
}
