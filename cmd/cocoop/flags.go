package main

import (
	"flag"
	"runtime"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/cocoop"
)

// The flag types shared by the commands and their parsing.

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
	fs.IntVar(&r.threads, "threads", 0, threadsUsage)
	fs.BoolVar(&r.quiet, "quiet", false, "no progress bar: periodic plain log lines on stderr instead (also the default when stderr is not a terminal)")
	fs.IntVar(&r.workers, "workers", 0, "image decoding goroutines (0 = GOMAXPROCS)")
	fs.BoolVar(&r.skip, "skip-unreadable", false, "skip images that cannot be decoded (counted in the summary) instead of failing")
	return r
}

// apply sets GOMAXPROCS and returns the function restoring it.
func (r *runFlags) apply() (restore func(), err error) {
	if r.workers < 0 {
		return nil, usagef("--workers must be >= 0, got %d", r.workers)
	}
	return setThreads(r.threads)
}

// threadsUsage is the help text of --threads.
const threadsUsage = "CPU threads (sets GOMAXPROCS; 0 = all cores)"

// addThreadsFlag registers --threads alone, for the commands without the
// other run flags.
func addThreadsFlag(fs *flag.FlagSet) *int { return fs.Int("threads", 0, threadsUsage) }

// setThreads sets GOMAXPROCS to n (0 leaves it) and returns the function
// restoring it.
func setThreads(n int) (restore func(), err error) {
	if n < 0 {
		return nil, usagef("--threads must be >= 0, got %d", n)
	}
	if n == 0 {
		return func() {}, nil
	}
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// configFlags override the fields of a cocoop.Config. They are registered
// with zero values; only the flags given on the command line change the
// method's defaults (see apply). --full-prompts is a switch of the text
// tower, not of the Config: startRun sets it on the loaded model.
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
	fs.BoolVar(&c.noAugment, "no-augment", false, "train on centre crops (the test transform) instead of random resized crops and flips; each image is then read once and kept (up to 256 MiB)")
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

// defaultPrintFreq is Dassl's --print-freq of method: cocoop 20, coop 5.
func defaultPrintFreq(method string) int {
	if method == cocoop.MethodCoOp {
		return 5
	}
	return 20
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
