package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// Validators of flag values: each returns a usage error or a clear
// error naming the flag.

// checkConfig validates cfg as a usage error.
func checkConfig(cfg cocoop.Config) error {
	if cfg.BatchSize < 1 {
		return usagef("--batch must be at least 1, got %d", cfg.BatchSize)
	}
	if cfg.ChunkSize < 0 {
		return usagef("--chunk-size must be >= 0, got %d", cfg.ChunkSize)
	}
	for _, f := range []struct {
		name     string
		v        float64
		positive bool // > 0, else >= 0
	}{
		{"lr", cfg.LR, true},
		{"momentum", cfg.Momentum, false},
		{"weight-decay", cfg.WeightDecay, false},
		{"warmup-lr", cfg.WarmupLR, cfg.WarmupEpochs > 0},
	} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			return usagef("--%s must be a finite number, got %v", f.name, f.v)
		case f.positive && f.v <= 0:
			return usagef("--%s must be > 0, got %v", f.name, f.v)
		case f.v < 0:
			return usagef("--%s must be >= 0, got %v", f.name, f.v)
		}
	}
	if cfg.Momentum >= 1 {
		return usagef("--momentum must be < 1, got %v (SGD momentum 1 or more never forgets a gradient and diverges)", cfg.Momentum)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "cocoop: config: "))
	}
	return nil
}

// checkClassNames refuses a --classes list naming a class twice (after
// the prompt spelling: "_" is a space, case ignored): two identical
// prompts would split the probability of one class between two rows.
func checkClassNames(names []string) error {
	seen := map[string]string{}
	for _, n := range names {
		k := strings.ToLower(cocoop.PromptName(n))
		if first, ok := seen[k]; ok {
			return usagef("--classes names %q twice (%q and %q): each class must be listed once", cocoop.PromptName(n), first, n)
		}
		seen[k] = n
	}
	return nil
}

// cscError is the refusal of a class-specific context where new classes
// are evaluated (CoOp issue #69, docs/cocoop.md §8 #12).
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

// checkFile reports a missing input file clearly, naming the flag ("" for
// a positional argument).
func checkFile(flagName, path string) error {
	what := "--" + flagName + " "
	if flagName == "" {
		what = ""
	}
	if path == "" {
		return usagef("--%s is required", flagName)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s%s: %w", what, path, unwrapPathError(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s%s: is a directory, want a file", what, path)
	}
	return nil
}

// checkCheckpoint checks a --checkpoint path: a GoCoOp or Dassl checkpoint
// file, or a Dassl output folder (cocoop.LoadCheckpoint picks its file).
func checkCheckpoint(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil
	}
	return checkFile("checkpoint", path)
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
