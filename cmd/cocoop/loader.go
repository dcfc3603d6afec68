package main

import (
	"context"
	"errors"
	"iter"
	"strings"

	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// The adapter from cocoop/data's image loader to cocoop.BatchSource.

// imageError marks a failure to read a dataset image.
type imageError struct {
	err  error
	skip bool // --skip-unreadable was given
}

func (e *imageError) Error() string {
	if e.skip {
		return e.err.Error()
	}
	return e.err.Error() + "\n(pass --skip-unreadable to skip images that cannot be decoded; they are counted in the summary)"
}

func (e *imageError) Unwrap() error { return e.err }

// loaderSource adapts a data.Loader to cocoop.BatchSource.
type loaderSource struct {
	l    *data.Loader
	res  int
	skip bool
}

func newLoaderSource(items []data.Datum, tf data.Transform, cfg data.LoaderConfig, res int) (*loaderSource, error) {
	l, err := data.NewLoader(items, tf, cfg)
	if err != nil {
		return nil, err
	}
	return &loaderSource{l: l, res: res, skip: cfg.SkipUnreadable}, nil
}

// NumBatches implements cocoop.BatchSource.
func (s *loaderSource) NumBatches() int { return s.l.NumBatches() }

// Batches implements cocoop.BatchSource.
func (s *loaderSource) Batches(ctx context.Context, epoch int) iter.Seq2[cocoop.Batch, error] {
	return func(yield func(cocoop.Batch, error) bool) {
		for b, err := range s.l.Epoch(ctx, epoch) {
			if err != nil {
				if ctx.Err() == nil {
					// The loader's "data: loader epoch E, item I: " (0-based)
					// is replaced by the caller's context; the cause names
					// the image.
					if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "data: loader epoch ") {
						err = inner
					}
					err = &imageError{err: err, skip: s.skip}
				}
				yield(cocoop.Batch{}, err)
				return
			}
			imgs := tensor.FromSlice(b.Images, b.Len(), 3, s.res, s.res)
			if !yield(cocoop.Batch{Images: imgs, Labels: b.Labels}, nil) {
				return
			}
		}
	}
}
