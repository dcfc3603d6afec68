package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
)

func init() {
	register("demo", &command{
		summary: "see CoCoOp work: pretrain a small CLIP, then zero-shot CLIP, CoOp and CoCoOp base-to-new",
		usage:   "[--world embedded|fashion-mnist] [--out DIR] [--seeds 1,2,3] [--shots K] [flags]",
		help: `Runs the paper's base-to-new experiment end to end on a world the binary
brings with it, so a fresh machine sees what CoCoOp does without downloads:

  1. pretrains a small CLIP contrastively ("cocoop pretrain" with its
     defaults) on the world, once: the model is cached in the user's cache
     directory (--cache), checked against its recorded SHA-256 on every use
     and made again when missing, unfinished or corrupt,
  2. exports the world's downstream classification set in CoOp's layout
     (images + split_zhou JSON), also cached,
  3. runs "cocoop base2new" with zero-shot CLIP, CoOp and CoCoOp (few
     shots, --seeds): train on the base classes, evaluate on base and new,
  4. prints the paper-style table (Base, New, H per method) beside the
     paper's averages over 11 datasets, and writes results.json and PNG
     plots (Base/New/H bars, pretraining and prompt-training curves).

Worlds: embedded (the default; 16 colour–shape classes, base and new
halves chosen so that every new class is a colour–shape combination the
prompt never sees while it learns) or fashion-mnist (Debian's
dataset-fashion-mnist, or --fashion-mnist DIR; base: the first 5 labels,
new: the last 5). docs/cocoop.md §9 explains the worlds and what to expect.

results.json: {"world", "chance" (percent, within a half), "seeds",
"methods": {"zeroshot"|"coop"|"cocoop": {"base", "new", "h"}} (percent,
seed means; H of the means), "pretrain": {"zeroshot_accuracy", "seconds",
"cached", "model"}, "paper", "shots", "seconds", "plots"}.

Examples:
  cocoop demo
  cocoop demo --world fashion-mnist --out fmnist-demo`,
		run: runDemo,
	})
}

// paperAverages are Table 1's averages over 11 datasets (Zhou et al., CVPR
// 2022): Base, New, H, keyed as results.json's methods.
var paperAverages = map[string]demoScore{
	"zeroshot": {69.34, 74.22, 71.70},
	"coop":     {82.69, 63.22, 71.66},
	"cocoop":   {80.47, 71.69, 75.83},
}

// demoMethods are the rows of the demo's table, in order: the method
// (--method) and its key in results.json.
var demoMethods = []struct{ method, key string }{
	{cocoop.MethodZeroShot, "zeroshot"}, {cocoop.MethodCoOp, "coop"}, {cocoop.MethodCoCoOp, "cocoop"},
}

// demoScore is one method's row.
type demoScore struct {
	Base float64 `json:"base"`
	New  float64 `json:"new"`
	H    float64 `json:"h"`
}

// demoPretrain is results.json's "pretrain".
type demoPretrain struct {
	ZeroShot float64 `json:"zeroshot_accuracy"` // percent, on held-out images of every class
	Chance   float64 `json:"chance"`            // percent, over every class
	Seconds  float64 `json:"seconds"`           // pretraining time (of the run that made the cached model)
	Cached   bool    `json:"cached"`            // the model came from the cache
	Model    string  `json:"model"`             // its path
}

// demoResults is results.json.
type demoResults struct {
	World    string               `json:"world"`
	Dataset  string               `json:"dataset"`
	Chance   float64              `json:"chance"`
	Seeds    []uint64             `json:"seeds"`
	Shots    int                  `json:"shots"`
	Methods  map[string]demoScore `json:"methods"`
	Paper    map[string]demoScore `json:"paper"`
	Pretrain demoPretrain         `json:"pretrain"`
	Seconds  float64              `json:"seconds"`
	Plots    []string             `json:"plots"`
}

// demoDataset exports world's downstream set under root and returns its
// registry name.
func demoDataset(world, root, fashionDir string, seed uint64) (string, error) {
	if world == "fashion-mnist" {
		_, err := data.ExportFashionMNIST(root, data.FashionMNISTConfig{Dir: fashionDir, Train: 32, Val: 8})
		return data.FashionMNISTName, err
	}
	cfg := demoWorld
	cfg.Seed = seed
	_, err := data.ExportWorld(root, cfg)
	return data.WorldName, err
}

// demoWorld is the export of the embedded world's downstream set (the
// defaults: 32 train, 8 val and 100 test images per class); tests shrink it.
var demoWorld = data.WorldConfig{}

func runDemo(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	world := fs.String("world", "embedded", "embedded or fashion-mnist")
	out := fs.String("out", "", "output `directory` (default: a new temporary directory)")
	cacheDir := fs.String("cache", "", "cache `directory` for the pretrained model and the exported data (default: the user cache directory's gocoop)")
	fashionDir := fs.String("fashion-mnist", "", "`directory` of Fashion-MNIST's IDX files (default "+data.FashionMNISTDir+")")
	seedsFlag := fs.String("seeds", "1,2,3", "comma-separated seeds of the few-shot draws and the prompt inits")
	shots := fs.Int("shots", 16, "training images per class")
	epochs := fs.Int("epochs", 0, "prompt-learning epochs of CoOp and CoCoOp (default: their base2new defaults)")
	pretrainEpochs := fs.Int("pretrain-epochs", 0, "pretraining epochs (default: cocoop pretrain's)")
	pairs := fs.Int("pairs", 0, "embedded world: pretraining pairs per epoch (default: cocoop pretrain's)")
	overwrite := fs.Bool("overwrite", false, "replace the results in --out")
	rf := addRunFlags(fs)
	restore, err := rf.parse(fs, args)
	if err != nil {
		return err
	}
	defer restore()
	s, err := defaultPretrainSettings(*world)
	if err != nil {
		return err
	}
	s.setLength(*pretrainEpochs, *pairs)
	if err := s.check(); err != nil {
		return err
	}
	seeds, err := parseSeeds(*seedsFlag)
	if err != nil {
		return err
	}
	if *shots < 1 || *epochs < 0 {
		return usagef("--shots must be >= 1 and --epochs >= 0")
	}
	begin := time.Now()
	dir := *out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cocoop-demo-"); err != nil {
			return err
		}
	} else if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
		if !*overwrite {
			return fmt.Errorf("%s already holds a demo's results; --overwrite replaces them", dir)
		}
		if err := os.RemoveAll(filepath.Join(dir, "runs")); err != nil {
			return err
		}
	}
	cache := *cacheDir
	if cache == "" {
		user, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory (%v); pass --cache DIR", err)
		}
		cache = filepath.Join(user, "gocoop")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	rep := newReporter(stderrOf(fs), rf.quiet)

	// 1. The pretrained model, from the cache or made now.
	modelDir := filepath.Join(cache, pretrainDirName(s))
	pre := demoPretrain{Cached: true, Model: filepath.Join(modelDir, pretrainModelFile)}
	r, verr := verifyPretrained(modelDir, s)
	if verr != nil {
		pre.Cached = false
		if !errors.Is(verr, os.ErrNotExist) {
			rep.logf("demo: the cached model cannot be used (%v): making it again", verr)
		}
		fmt.Fprintf(stdout, "demo: pretraining a small CLIP on the %s world (once; cached in %s)\n", s.World, modelDir)
		if r, err = pretrain(ctx, pretrainJob{dir: modelDir, settings: s, fashionDir: *fashionDir, overwrite: true, rep: rep}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "demo: using the pretrained CLIP cached in %s\n", modelDir)
	}
	pre.ZeroShot, pre.Chance, pre.Seconds = r.ZeroShot, r.Chance, r.Seconds
	fmt.Fprintf(stdout, "demo: pretrained CLIP: zero-shot accuracy %.1f%% over all %d classes (chance %.1f%%)\n",
		r.ZeroShot, int(100/r.Chance+0.5), r.Chance)

	// 2. The downstream set.
	root := filepath.Join(cache, "data")
	dataset, err := demoDataset(s.World, root, *fashionDir, s.Seed)
	if err != nil {
		return err
	}

	// 3. Base-to-new, one method after the other.
	res := demoResults{World: s.World, Dataset: dataset, Seeds: seeds, Shots: *shots, Methods: map[string]demoScore{},
		Paper: paperAverages, Pretrain: pre}
	reports := map[string]*base2newReport{}
	for _, dm := range demoMethods {
		m := dm.method
		runDir := filepath.Join(dir, "runs", dm.key)
		b2n := []string{"base2new", "--weights", pre.Model, "--dataset", dataset, "--root", root, "--out", runDir,
			"--method", m, "--seeds", *seedsFlag, "--shots", strconv.Itoa(*shots), "--threads", strconv.Itoa(rf.threads)}
		if m != cocoop.MethodZeroShot {
			// Centre crops, not the paper's random resized crops: at 28–32
			// pixels a crop of 8% of the area (9 pixels a side) often cuts
			// the object out (docs/cocoop.md §9); the frozen image tower's
			// features are then computed once per image.
			b2n = append(b2n, "--no-augment", "--cache-features")
			if *epochs > 0 {
				b2n = append(b2n, "--epochs", strconv.Itoa(*epochs))
			}
		}
		if rf.quiet {
			b2n = append(b2n, "--quiet")
		}
		if rf.workers > 0 {
			b2n = append(b2n, "--workers", strconv.Itoa(rf.workers))
		}
		if rf.skip {
			b2n = append(b2n, "--skip-unreadable")
		}
		fmt.Fprintf(stdout, "\ndemo: %s\n$ cocoop %s\n", methodLabel(m), shellJoin(b2n))
		var sink strings.Builder // base2new's own table: the demo prints one for all methods
		if code := run(b2n, &sink, stderrOf(fs)); code != 0 {
			if code == 130 {
				return interrupted("the demo's finished methods are in %s", dir)
			}
			return fmt.Errorf("demo: %s failed (exit %d); its log: %s", methodLabel(m), code, filepath.Join(runDir, "log.txt"))
		}
		var rep base2newReport
		if err := readJSONFile(filepath.Join(runDir, "base2new.json"), &rep); err != nil {
			return err
		}
		if len(rep.Results) != 1 {
			return fmt.Errorf("demo: %s: %d results in base2new.json, want 1", runDir, len(rep.Results))
		}
		x := rep.Results[0]
		res.Methods[dm.key] = demoScore{x.Base, x.New, x.H}
		reports[dm.key] = &rep
		if len(rep.PerSeed) > 0 {
			res.Chance = 100 / float64(len(rep.PerSeed[0].BaseClasses))
		}
		fmt.Fprintf(stdout, "%s: Base %.2f, New %.2f, H %.2f\n", methodLabel(m), x.Base, x.New, x.H)
	}

	// 4. Table, plots, results.json.
	fmt.Fprintln(stdout)
	writeDemoTable(stdout, res)
	plots, err := demoPlots(dir, res, reports, r)
	if err != nil {
		return err
	}
	res.Plots = plots
	res.Seconds = time.Since(begin).Seconds()
	path := filepath.Join(dir, "results.json")
	if err := writeJSON(path, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndemo: wrote %s and %d plots in %s (%s)\n", path, len(plots), dir, fmtDuration(time.Since(begin)))
	return nil
}

// writeDemoTable prints the Markdown table of res beside the paper's
// averages.
func writeDemoTable(w io.Writer, res demoResults) {
	fmt.Fprintf(w, "Base-to-new on the %s world (%s): %d shots, seeds %v; chance %.1f%% within each half\n\n",
		res.World, res.Dataset, res.Shots, res.Seeds, res.Chance)
	fmt.Fprintf(w, "| Method | Base | New | H | | paper: Base | New | H |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---:|---:|---:|\n")
	for _, dm := range demoMethods {
		g, p := res.Methods[dm.key], res.Paper[dm.key]
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | | %.2f | %.2f | %.2f |\n", methodLabel(dm.method), g.Base, g.New, g.H, p.Base, p.New, p.H)
	}
	fmt.Fprintf(w, "\nThe paper's columns average 11 datasets with ViT-B/16 (Zhou et al., CVPR 2022, Table 1).\n")
}

// readJSONFile decodes the JSON file at path into v.
func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// shellJoin quotes args for display.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
