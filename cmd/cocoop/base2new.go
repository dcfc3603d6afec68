package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
)

func init() {
	register("base2new", &command{
		summary: "run the base-to-new generalization protocol over seeds and print the table",
		usage:   "--weights PATH --dataset NAME[,NAME...] --root DIR --out DIR [--method cocoop|coop|zeroshot] [--seeds 1,2,3] [flags]",
		help: `The paper's base-to-new protocol (Table 1; docs/cocoop.md §3), one command
instead of base2new_train.sh + base2new_test.sh + parse_test_res.py. For each
dataset and each seed:

  1. draw the 16-shot train subset over ALL classes (Python's random, seeded;
     --sampler py reproduces Dassl's official subsets),
  2. split the classes: base = first ceil(n/2) labels, new = the rest,
  3. train on the base classes (cocoop: 10 epochs at batch 1; coop: 200
     epochs at batch 32, 50 on ImageNet; zeroshot: no training, the dataset's
     template),
  4. Base = accuracy on the base test images among the base classes only,
     New = accuracy on the new test images among the new classes only,
     with the prompt rebuilt from the new class names.

Per dataset, Base and New are the means over seeds and H = 2·B·N/(B+N) of
those means; with several datasets the Average row takes the means of Base and
New and H of those (not the mean of H). Full precision is kept in the JSON.
Test-image features come from the frozen image encoder and are computed once
per dataset and reused for every seed.

Output: the table on stdout (Markdown, as the paper's rows), and in --out:
base2new.json (every seed's Base/New, per-epoch training loss, settings) and
per dataset and seed <Dataset>/seed<N>/ with prompt_learner.safetensors,
result.json and log.txt. A seed whose checkpoint is already in --out (same
settings) is resumed or, when complete, only evaluated; --fresh retrains.
Training settings: the flags of "cocoop train" (--epochs, --lr, ...) with the
same paper defaults; --csc is refused (a class-specific context cannot be
used on new classes).

Examples:
  cocoop base2new --weights ViT-B-16.pt --dataset EuroSAT --root $DATA --out runs/b2n
  cocoop base2new --weights ViT-B-16.pt --dataset EuroSAT,DescribableTextures \
      --root $DATA --method coop --out runs/b2n-coop
  cocoop base2new --weights ViT-B-16.pt --dataset EuroSAT --root $DATA --method zeroshot --out runs/b2n-clip`,
		run: runBase2New,
	})
}

// seedReport is one seed's outcome in base2new.json and result.json.
type seedReport struct {
	Dataset     string        `json:"dataset"`
	Seed        uint64        `json:"seed"`
	BaseClasses []string      `json:"base_classes"`
	NewClasses  []string      `json:"new_classes"`
	TrainImages int           `json:"train_images"`
	ShotsUsed   [2]int        `json:"shots_used"` // fewest and most train images of a class (all classes)
	Base        evalRecord    `json:"base"`
	New         evalRecord    `json:"new"`
	H           float64       `json:"h"`
	Epochs      []epochRecord `json:"epochs,omitempty"`
	StartEpoch  int           `json:"start_epoch,omitempty"`
	Checkpoint  string        `json:"checkpoint,omitempty"`
	Skipped     skippedInfo   `json:"skipped_unreadable"`
	Seconds     float64       `json:"seconds"`
}

// base2newReport is base2new.json.
type base2newReport struct {
	Command     string         `json:"command"`
	Method      string         `json:"method"`
	Shots       int            `json:"shots"`
	Seeds       []uint64       `json:"seeds"`
	Sampler     string         `json:"sampler"`
	Weights     string         `json:"weights"`
	Config      *cocoop.Config `json:"config,omitempty"`
	FullPrompts bool           `json:"full_prompts,omitempty"` // --full-prompts
	Templates   []string       `json:"templates,omitempty"`
	Results     []data.Result  `json:"results"`
	Average     *data.Result   `json:"average,omitempty"`
	PerSeed     []seedReport   `json:"per_seed"`
	Skipped     skippedInfo    `json:"skipped_unreadable"`
	Seconds     float64        `json:"seconds"`
}

func runBase2New(fs *flag.FlagSet, args []string, stdout io.Writer) (err error) {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	datasets := fs.String("dataset", "", "comma-separated dataset `names` (required)")
	root := fs.String("root", "", "`directory` holding the dataset folders (required)")
	outDir := fs.String("out", "", "output `directory` (required)")
	method := fs.String("method", "cocoop", "cocoop, coop or zeroshot")
	seedsFlag := fs.String("seeds", "1,2,3", "comma-separated seeds")
	shots := fs.Int("shots", 16, "images per class in the few-shot train split")
	samplerName := fs.String("sampler", "py", "few-shot sampler: py (CPython-exact, the official subsets) or pcg")
	ensemble := fs.Bool("ensemble", false, "zeroshot: 7 ImageNet templates + the dataset's (ZeroshotCLIP2)")
	evalBatch := fs.Int("eval-batch", 100, "images per evaluation batch")
	printFreq := fs.Int("print-freq", 0, "plain log line every N steps (default: cocoop 20, coop 5)")
	fresh := fs.Bool("fresh", false, "retrain seeds whose checkpoint is already in --out")
	cf := addConfigFlags(fs)
	rf := addRunFlags(fs)
	deviceName := addDeviceFlag(fs)
	restore, err := rf.parse(fs, args)
	if err != nil {
		return err
	}
	defer restore()
	dev, err := openDevice(*deviceName)
	if err != nil {
		return err
	}
	m, err := checkMethod(*method, true)
	if err != nil {
		return err
	}
	seeds, err := parseSeeds(*seedsFlag)
	if err != nil {
		return err
	}
	var names []string
	for _, d := range splitClasses(*datasets) {
		n, err := checkDatasetName(d)
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		_, err := checkDatasetName("")
		return err
	}
	if *outDir == "" {
		return usagef("--out is required (directory for the results, checkpoints and logs)")
	}
	if *shots < 1 || *evalBatch < 1 || *printFreq < 0 {
		return usagef("--shots and --eval-batch must be >= 1, --print-freq >= 0")
	}
	if _, err := sampler(*samplerName, 0); err != nil {
		return err
	}
	var configSet []string
	fs.Visit(func(f *flag.Flag) {
		if configFlagNames[f.Name] {
			configSet = append(configSet, "--"+f.Name)
		}
	})
	if m == cocoop.MethodZeroShot && len(configSet) > 0 {
		return usagef("%s: training flags do not apply to --method zeroshot", strings.Join(configSet, ", "))
	}
	if m != cocoop.MethodZeroShot && *ensemble {
		return usagef("--ensemble applies to --method zeroshot")
	}
	if cf.csc {
		return cscError("base2new")
	}
	cfgs := map[string]cocoop.Config{}
	for _, n := range names {
		if m == cocoop.MethodZeroShot {
			break
		}
		cfg := defaultConfig(m, n)
		cf.apply(fs, &cfg)
		if err := checkConfig(cfg); err != nil {
			return err
		}
		if err := cf.check(); err != nil {
			return err
		}
		cfgs[n] = cfg
	}
	if *printFreq == 0 {
		*printFreq = defaultPrintFreq(m)
	}
	dss := map[string]*data.Dataset{}
	for _, n := range names {
		ds, err := loadRunData(dataSpec{weights: *weights, name: n, root: *root, subsample: "all"})
		if err != nil {
			return err
		}
		dss[n] = ds
	}
	sess, err := startRun(fs, runSpec{args: args, weights: *weights, logDir: *outDir, quiet: rf.quiet, interrupt: true, fullPrompts: cf.fullPrompts, device: dev, textGrad: true})
	if err != nil {
		return err
	}
	defer sess.close(&err)
	ctx, rep, model := sess.ctx, sess.rep, sess.model
	begin := time.Now()
	removeStaleTemps(*outDir, rep)
	report := base2newReport{Command: "base2new", Method: m, Shots: *shots, Seeds: seeds, Sampler: *samplerName, Weights: *weights, FullPrompts: cf.fullPrompts}
	if len(names) == 1 && m != cocoop.MethodZeroShot {
		c := cfgs[names[0]]
		report.Config = &c
	}
	eo := evalOptions{model.ImageResolution, *evalBatch, rf.workers, rf.skip}
	for _, n := range names {
		ds := dss[n]
		cache := featuresByItems{}
		var seedResults []data.SeedResult
		for _, seed := range seeds {
			sr, err := base2newSeed(ctx, b2nJob{
				model: model, ds: ds, method: m, cfg: cfgs[n], seed: seed, shots: *shots, sampler: *samplerName,
				ensemble: *ensemble, outDir: filepath.Join(*outDir, ds.Name, fmt.Sprintf("seed%d", seed)), fresh: *fresh,
				run: rf, eval: eo, rep: rep, cache: cache, printFreq: *printFreq, noAugment: cf.noAugment,
			})
			if err != nil {
				return err
			}
			if m == cocoop.MethodZeroShot && report.Templates == nil {
				report.Templates = sr.templates
			}
			report.PerSeed = append(report.PerSeed, sr.seedReport)
			report.Skipped.Count += sr.Skipped.Count
			seedResults = append(seedResults, data.SeedResult{Seed: int(seed), Base: sr.Base.Accuracy, New: sr.New.Accuracy})
			rep.logf("%s seed %d: base %.2f%% new %.2f%% H %.2f", ds.Name, seed, sr.Base.Accuracy, sr.New.Accuracy, sr.H)
		}
		report.Results = append(report.Results, data.Summarize(ds.Name, methodLabel(m), seedResults))
	}
	if len(report.Results) > 1 {
		avg := data.Average(report.Results)
		report.Average = &avg
	}
	report.Seconds = time.Since(begin).Seconds()
	jsonPath := filepath.Join(*outDir, "base2new.json")
	if err := writeJSON(jsonPath, report); err != nil {
		return err
	}

	// Summary: per seed, mean ± std, then the table.
	fmt.Fprintf(stdout, "Base-to-new generalization: %s, %d shots, seeds %s, sampler %s\n\n", methodLabel(m), *shots, *seedsFlag, *samplerName)
	fmt.Fprintf(stdout, "%-20s %6s %8s %8s %8s\n", "dataset", "seed", "base", "new", "H")
	for _, s := range report.PerSeed {
		fmt.Fprintf(stdout, "%-20s %6d %8.2f %8.2f %8.2f\n", s.Dataset, s.Seed, s.Base.Accuracy, s.New.Accuracy, s.H)
	}
	for _, r := range report.Results {
		fmt.Fprintf(stdout, "%-20s %6s %8.2f %8.2f %8.2f   (std base %.2f, new %.2f)\n", r.Dataset, "mean", r.Base, r.New, r.H, r.BaseStd, r.NewStd)
	}
	fmt.Fprintln(stdout)
	if err := data.WriteTable(stdout, report.Results); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	writeSkipped(stdout, report.Skipped)
	fmt.Fprintf(stdout, "wrote %s (%s)\n", jsonPath, fmtDuration(time.Since(begin)))
	return nil
}

// b2nJob is one dataset and seed of base2new.
type b2nJob struct {
	model     *clip.CLIP
	ds        *data.Dataset
	method    string
	cfg       cocoop.Config
	seed      uint64
	shots     int
	sampler   string
	ensemble  bool
	outDir    string
	fresh     bool
	run       *runFlags
	eval      evalOptions
	rep       *reporter
	cache     featuresByItems
	printFreq int
	noAugment bool
}

type b2nResult struct {
	seedReport
	templates []string
}

func base2newSeed(ctx context.Context, j b2nJob) (_ *b2nResult, err error) {
	start := time.Now()
	rng, err := sampler(j.sampler, j.seed)
	if err != nil {
		return nil, err
	}
	fsd := data.FewShot(j.ds, j.shots, rng)
	base, err := data.SubsampleClasses(fsd, "base")
	if err != nil {
		return nil, err
	}
	novel, err := data.SubsampleClasses(fsd, "new")
	if err != nil {
		return nil, err
	}
	if len(novel.ClassNames) == 0 {
		return nil, fmt.Errorf("%s has %d classes: no new classes to evaluate", j.ds.Name, len(base.ClassNames))
	}
	if err := checkEvalSplit(base, base.Test, "test", "base"); err != nil {
		return nil, err
	}
	if err := checkEvalSplit(novel, novel.Test, "test", "new"); err != nil {
		return nil, err
	}
	lo, hi := shotsUsed(fsd)
	res := &b2nResult{seedReport: seedReport{
		Dataset: j.ds.Name, Seed: j.seed, BaseClasses: base.ClassNames, NewClasses: novel.ClassNames, TrainImages: len(base.Train),
		ShotsUsed: [2]int{lo, hi},
	}}
	label := fmt.Sprintf("%s seed %d", j.ds.Name, j.seed)
	if j.method != cocoop.MethodZeroShot {
		warnFewShots(j.rep, label, j.shots, lo, hi)
	}
	var cl cocoop.Classifier
	if j.method == cocoop.MethodZeroShot {
		var z *cocoop.ZeroShot
		if err := catch(func() {
			var err error
			if z, err = cocoop.NewZeroShotForDataset(j.model, j.ds.Name, j.ensemble, base.ClassNames); err != nil {
				panic(err)
			}
		}); err != nil {
			return nil, err
		}
		res.templates = z.Templates
		cl = z
	} else {
		cfg := j.cfg
		cfg.Seed = j.seed
		if err := os.MkdirAll(j.outDir, 0o755); err != nil {
			return nil, err
		}
		removeStaleTemps(j.outDir, j.rep)
		ck, err := existingCheckpoint(filepath.Join(j.outDir, checkpointName), cfg, base.ClassNames, j.fresh)
		if err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(j.outDir, "log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		defer func() {
			if err != nil {
				fmt.Fprintf(logf, "error: %v\n", err)
			}
		}()
		var lw io.Writer = logf
		if j.rep.log != nil {
			lw = io.MultiWriter(logf, j.rep.log)
		}
		rep := j.rep.withLog(lw)
		out, err := trainLearner(ctx, trainJob{
			cfg: cfg, model: j.model, ds: base, workers: j.run.workers, skip: j.run.skip, outDir: j.outDir,
			resume: ck, rep: rep, name: label, printFreq: j.printFreq, noAugment: j.noAugment,
			resumeHint: func(ck string) string {
				return fmt.Sprintf("run the same base2new command again: it resumes every seed from its last finished epoch (here %s; --fresh retrains instead)", ck)
			},
		})
		if err != nil {
			return nil, err
		}
		res.Epochs, res.StartEpoch, res.Checkpoint = out.epochs, out.startEpoch, out.checkpoint
		res.Skipped.add(out.skipped)
		cl = out.learner
	}
	eval := func(items []data.Datum, what string) (evalRecord, error) {
		r, skipped, err := evaluateItems(ctx, cl, items, j.eval, j.rep, label+" "+what, j.cache)
		if err != nil {
			return evalRecord{}, err
		}
		res.Skipped.add(skipped)
		return evalRecord{Split: "test", Classes: len(cl.ClassNames()), Accuracy: r.Accuracy, Correct: r.Correct, Total: r.Total}, nil
	}
	if res.Base, err = eval(base.Test, "base"); err != nil {
		return nil, err
	}
	if err := catch(func() {
		if err := cl.SetClassNames(novel.ClassNames); err != nil {
			panic(err)
		}
	}); err != nil {
		return nil, err
	}
	if res.New, err = eval(novel.Test, "new"); err != nil {
		return nil, err
	}
	res.H = data.HarmonicMean(res.Base.Accuracy, res.New.Accuracy)
	res.Seconds = time.Since(start).Seconds()
	if j.method != cocoop.MethodZeroShot {
		if err := writeJSON(filepath.Join(j.outDir, "result.json"), res.seedReport); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// existingCheckpoint returns the checkpoint at path to resume from, nil
// when there is none (or fresh), and an error when it was trained with
// other settings.
func existingCheckpoint(path string, cfg cocoop.Config, classes []string, fresh bool) (*cocoop.Checkpoint, error) {
	if fresh {
		return nil, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	ck, err := cocoop.LoadCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("%w (pass --fresh to retrain)", err)
	}
	a, b := cfg, ck.Meta.Config
	if a.CtxInit != "" { // n_ctx is the word count; the stored value is the actual one
		a.NCtx, b.NCtx = 0, 0
	}
	want, _ := json.Marshal(a)
	got, _ := json.Marshal(b)
	if string(want) != string(got) || !slices.Equal(ck.Meta.ClassNames, classes) {
		return nil, fmt.Errorf("%s was trained with other settings or classes (%s); use another --out or --fresh to retrain", path, got)
	}
	return ck, nil
}
