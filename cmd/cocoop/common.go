package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// Shared pieces of the train, eval, base2new and inspect commands.

// runFlags are the flags every long-running command has.
type runFlags struct {
	threads int
	quiet   bool
	workers int
	skip    bool
}

// parse parses args with fs, rejects positional arguments and applies the
// run flags; the caller defers the returned restore.
func (r *runFlags) parse(fs *flag.FlagSet, args []string) (restore func(), err error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	return r.apply()
}

// addRunFlags registers the run flags on fs.
func addRunFlags(fs *flag.FlagSet) *runFlags {
	r := &runFlags{}
	fs.IntVar(&r.threads, "threads", 0, "CPU threads (sets GOMAXPROCS; 0 = all cores)")
	fs.BoolVar(&r.quiet, "quiet", false, "no progress bar: periodic plain log lines on stderr instead (also the default when stderr is not a terminal)")
	fs.IntVar(&r.workers, "workers", 0, "image decoding goroutines (0 = GOMAXPROCS)")
	fs.BoolVar(&r.skip, "skip-unreadable", false, "skip images that cannot be decoded (counted in the summary) instead of failing")
	return r
}

// apply sets GOMAXPROCS and returns the function restoring it.
func (r *runFlags) apply() (restore func(), err error) {
	if r.threads < 0 {
		return nil, usagef("--threads must be >= 0, got %d", r.threads)
	}
	if r.workers < 0 {
		return nil, usagef("--workers must be >= 0, got %d", r.workers)
	}
	if r.threads == 0 {
		return func() {}, nil
	}
	old := runtime.GOMAXPROCS(r.threads)
	return func() { runtime.GOMAXPROCS(old) }, nil
}

// stderrOf returns the command's stderr: run gives every flag set its
// stderr as output before calling the command.
func stderrOf(fs *flag.FlagSet) io.Writer { return fs.Output() }

// configFlags override the fields of a cocoop.Config. They are registered
// with zero values; only the flags given on the command line change the
// method's defaults (see apply).
type configFlags struct {
	nCtx, epochs, batch, warmupEpochs, chunk int
	ctxInit, position                        string
	csc                                      bool
	lr, momentum, wd, warmupLR               float64
	fullPrompts, noAugment, cacheFeatures    bool
}

// configFlagNames are the flags of configFlags.
var configFlagNames = map[string]bool{
	"n-ctx": true, "ctx-init": true, "csc": true, "class-token-position": true, "epochs": true, "batch": true,
	"lr": true, "momentum": true, "weight-decay": true, "warmup-epochs": true, "warmup-lr": true, "chunk-size": true,
	"full-prompts": true, "no-augment": true, "cache-features": true,
}

func addConfigFlags(fs *flag.FlagSet) *configFlags {
	c := &configFlags{}
	fs.IntVar(&c.nCtx, "n-ctx", 0, "number of context vectors with random init (default 4; with a word init it is the word count)")
	fs.StringVar(&c.ctxInit, "ctx-init", "", "context init `words` (default \"a photo of a\"; \"\" or \"random\": N(0, 0.02²) init of --n-ctx vectors)")
	fs.BoolVar(&c.csc, "csc", false, "CoOp only: class-specific context (random init only; not usable for new classes)")
	fs.StringVar(&c.position, "class-token-position", "", "CoOp only: end, middle or front (default end)")
	fs.IntVar(&c.epochs, "epochs", 0, "training epochs (default: cocoop 10, coop 200, coop on ImageNet 50)")
	fs.IntVar(&c.batch, "batch", 0, "training batch size (default: cocoop 1, coop 32)")
	fs.Float64Var(&c.lr, "lr", 0, "SGD learning rate after warm-up, cosine-annealed per epoch (default 0.002)")
	fs.Float64Var(&c.momentum, "momentum", 0, "SGD momentum (default 0.9)")
	fs.Float64Var(&c.wd, "weight-decay", 0, "SGD weight decay on every trainable (default 5e-4)")
	fs.IntVar(&c.warmupEpochs, "warmup-epochs", 0, "constant warm-up epochs (default 1)")
	fs.Float64Var(&c.warmupLR, "warmup-lr", 0, "warm-up learning rate (default 1e-5)")
	fs.IntVar(&c.chunk, "chunk-size", 0, "class prompts per text-encoder call; bounds memory (default 256)")
	fs.BoolVar(&c.fullPrompts, "full-prompts", false, "run the official full 77-token prompts instead of the exact shared-prefix shortcut (same results, much slower; for comparison)")
	fs.BoolVar(&c.noAugment, "no-augment", false, "train on centre crops (the test transform) instead of random resized crops and flips")
	fs.BoolVar(&c.cacheFeatures, "cache-features", false, "encode each training image once and reuse its features (needs --no-augment)")
	return c
}

// defaultConfig is the paper's config of method on dataset.
func defaultConfig(method, dataset string) cocoop.Config {
	if method == cocoop.MethodCoOp {
		return cocoop.DefaultCoOpConfig(strings.EqualFold(dataset, "ImageNet"))
	}
	return cocoop.DefaultCoCoOpConfig()
}

// apply copies the flags given on the command line into cfg.
func (c *configFlags) apply(fs *flag.FlagSet, cfg *cocoop.Config) {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "n-ctx":
			cfg.NCtx = c.nCtx
		case "ctx-init":
			cfg.CtxInit = c.ctxInit
			if strings.EqualFold(c.ctxInit, "random") {
				cfg.CtxInit = ""
			}
		case "csc":
			cfg.CSC = c.csc
		case "class-token-position":
			cfg.ClassTokenPosition = c.position
		case "epochs":
			cfg.Epochs = c.epochs
		case "batch":
			cfg.BatchSize = c.batch
		case "lr":
			cfg.LR = c.lr
		case "momentum":
			cfg.Momentum = c.momentum
		case "weight-decay":
			cfg.WeightDecay = c.wd
		case "warmup-epochs":
			cfg.WarmupEpochs = c.warmupEpochs
		case "warmup-lr":
			cfg.WarmupLR = c.warmupLR
		case "chunk-size":
			cfg.ChunkSize = c.chunk
		case "full-prompts":
			cfg.FullPrompts = c.fullPrompts
		case "cache-features":
			cfg.CacheImageFeatures = c.cacheFeatures
		}
	})
}

// check validates the flags that are not Config fields.
func (c *configFlags) check() error {
	if c.cacheFeatures && !c.noAugment {
		return usagef("--cache-features needs --no-augment: random crops and flips change every training image each epoch, so there is nothing to reuse")
	}
	return nil
}

// checkConfig validates cfg as a usage error.
func checkConfig(cfg cocoop.Config) error {
	if cfg.BatchSize < 1 {
		return usagef("--batch must be at least 1, got %d", cfg.BatchSize)
	}
	if cfg.ChunkSize < 0 {
		return usagef("--chunk-size must be >= 0, got %d", cfg.ChunkSize)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "cocoop: config: "))
	}
	return nil
}

// cscError is the refusal of a class-specific context where new classes
// are evaluated (CoOp issue #69, spec §8 #12).
func cscError(where string) error {
	return usagef("--csc cannot be used with %s: a class-specific context is tied to the training classes and has nothing to offer new classes (CoOp issue #69); use the generic context (the default)", where)
}

// checkMethod validates a training method name.
func checkMethod(m string, zeroshot bool) (string, error) {
	switch strings.ToLower(m) {
	case "cocoop":
		return cocoop.MethodCoCoOp, nil
	case "coop":
		return cocoop.MethodCoOp, nil
	case "zeroshot", "zsclip", "clip":
		if zeroshot {
			return cocoop.MethodZeroShot, nil
		}
	}
	if zeroshot {
		return "", usagef("--method %q: want cocoop, coop or zeroshot", m)
	}
	return "", usagef("--method %q: want cocoop or coop", m)
}

// methodLabel is the method's name in tables.
func methodLabel(m string) string {
	switch m {
	case cocoop.MethodCoCoOp:
		return "CoCoOp"
	case cocoop.MethodCoOp:
		return "CoOp"
	case cocoop.MethodZeroShot:
		return "CLIP"
	}
	return m
}

// checkSubsample validates --subsample.
func checkSubsample(s string) error {
	switch s {
	case "all", "base", "new":
		return nil
	}
	return usagef("--subsample %q: want all, base or new", s)
}

// sampler returns the few-shot sampling generator for seed: "py" is
// CPython's random (the official subsets), "pcg" the project's PCG.
func sampler(name string, seed uint64) (data.Intner, error) {
	switch name {
	case "py":
		return data.NewPyRandom(seed), nil
	case "pcg":
		return tensor.NewRNG(seed), nil
	}
	return nil, usagef("--sampler %q: want py (CPython-exact, the official subsets) or pcg", name)
}

// checkDatasetName returns the registry spelling of name or a usage error
// listing the valid names.
func checkDatasetName(name string) (string, error) {
	if name == "" {
		return "", usagef("--dataset is required (one of: %s)", strings.Join(data.Names(), ", "))
	}
	canon, err := data.CanonicalName(name)
	if err != nil {
		return "", usagef("%s", strings.TrimPrefix(err.Error(), "data: "))
	}
	return canon, nil
}

// loadDataset reads a dataset; errors from data.Load (missing files, a bad
// split file) are returned as they are.
func loadDataset(name, root string) (*data.Dataset, error) {
	if root == "" {
		return nil, usagef("--root is required: the directory holding the dataset folders (e.g. $DATA with $DATA/eurosat)")
	}
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("--root %s: %w", root, unwrapPathError(err))
	}
	return data.Load(name, root)
}

// checkFile reports a missing input file clearly, naming the flag.
func checkFile(flagName, path string) error {
	if path == "" {
		return usagef("--%s is required", flagName)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--%s %s: %w", flagName, path, unwrapPathError(err))
	}
	if st.IsDir() {
		return fmt.Errorf("--%s %s: is a directory, want a file", flagName, path)
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, os.ErrNotExist) {
			return errors.New("no such file or directory")
		}
		return pe.Err
	}
	return err
}

// loadModel loads the CLIP weights.
func loadModel(path string, rep *reporter) (*clip.CLIP, error) {
	if err := checkFile("weights", path); err != nil {
		return nil, err
	}
	rep.logf("loading CLIP weights %s", path)
	m, err := clip.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--weights: %w", err)
	}
	return m, nil
}

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

// skippedInfo is the JSON record of skipped images.
type skippedInfo struct {
	Count      int      `json:"count"`
	First      []string `json:"first,omitempty"`
	FirstError string   `json:"first_error,omitempty"`
}

func (s *skippedInfo) add(st data.Stats) {
	s.Count += st.Skipped
	for _, p := range st.FirstSkipped {
		if len(s.First) < 10 {
			s.First = append(s.First, p)
		}
	}
	if s.FirstError == "" {
		s.FirstError = st.FirstError
	}
}

// features are the normalized image features of a split, computed once
// (the image encoder is frozen and the test transform deterministic) and
// reused across checkpoints and seeds (spec §8 #2).
type features struct {
	x       []float32 // [n, dim]
	labels  []int
	dim     int
	skipped data.Stats
}

func (f *features) n() int { return len(f.labels) }

// evalOptions configure feature extraction.
type evalOptions struct {
	batch   int
	workers int
	skip    bool
}

// encodeSplit computes the image features of items with cl's frozen image
// encoder and the test transform.
func encodeSplit(ctx context.Context, cl cocoop.Classifier, res int, items []data.Datum, o evalOptions, rep *reporter, name string) (*features, error) {
	cfg := data.TestConfig(o.batch)
	cfg.Workers, cfg.SkipUnreadable = o.workers, o.skip
	src, err := newLoaderSource(items, data.TestTransform(res), cfg, res)
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

// classify evaluates cl on cached features, batch images at a time.
func classify(ctx context.Context, cl cocoop.Classifier, f *features, batch int, rep *reporter, name string) (cocoop.EvalResult, error) {
	var r cocoop.EvalResult
	t := rep.start(name+": classify", f.n(), 0)
	defer t.finish()
	for lo := 0; lo < f.n(); lo += batch {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		hi := min(lo+batch, f.n())
		x := tensor.FromSlice(f.x[lo*f.dim:hi*f.dim], hi-lo, f.dim)
		var logits *tensor.Tensor
		if err := catch(func() { logits = cl.LogitsFromFeatures(x) }); err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
		for i, p := range tensor.Argmax(logits, 1) {
			r.Preds = append(r.Preds, p)
			r.Labels = append(r.Labels, f.labels[lo+i])
			if p == f.labels[lo+i] {
				r.Correct++
			}
		}
		r.Total = len(r.Preds)
		r.Accuracy = 100 * float64(r.Correct) / float64(r.Total)
		t.step(hi-lo, fmt.Sprintf("acc %.2f%%", r.Accuracy), "")
	}
	return r, nil
}

// featureCache keeps the features of item lists by content.
type featureCache map[uint64]*features

func itemsKey(items []data.Datum) uint64 {
	h := fnv.New64a()
	for _, d := range items {
		io.WriteString(h, d.ImPath)
		io.WriteString(h, "\x00"+strconv.Itoa(d.Label)+"\n")
	}
	return h.Sum64()
}

// get returns the cached features of items or computes them.
func (c featureCache) get(ctx context.Context, cl cocoop.Classifier, res int, items []data.Datum, o evalOptions, rep *reporter, name string) (*features, error) {
	k := itemsKey(items)
	if f, ok := c[k]; ok {
		return f, nil
	}
	f, err := encodeSplit(ctx, cl, res, items, o, rep, name)
	if err != nil {
		return nil, err
	}
	c[k] = f
	return f, nil
}

// catch turns a panic of the model code into an error (tensor.Try).
var catch = tensor.Try

// writeJSON writes v indented to path atomically, creating its directory.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// parseSeeds parses "1,2,3".
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, usagef("--seeds: %q is not a non-negative integer", p)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, usagef("--seeds is empty")
	}
	return out, nil
}
