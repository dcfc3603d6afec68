package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/data"
)

func init() {
	register("train", &command{
		summary: "train CoCoOp or CoOp prompts on a few-shot dataset",
		usage:   "--weights PATH --dataset NAME --root DIR --out DIR [--method cocoop|coop] [--shots 16] [--seed 1] [--subsample all|base|new] [flags]",
		help: `Learns a prompt on a frozen CLIP (ViT-B/16 in the paper) from a K-shot
subset of a dataset, then evaluates it on the dataset's test split, as
CoOp's train.py does (docs/cocoop.md §2, §3).

  --method cocoop   CoCoOp: 4 context vectors initialised from "a photo of a"
                    plus the meta-net π(x) (35,360 trainables); batch 1,
                    10 epochs (configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1)
  --method coop     CoOp: the same context without π; batch 32, 200 epochs
                    (50 on ImageNet) (configs/trainers/CoOp/vit_b16_ctxv1)

Both use SGD (lr 0.002, momentum 0.9, weight decay 5e-4), one warm-up epoch at
lr 1e-5 then cosine annealing per epoch, Dassl's train transform (random
resized crop + flip) and its test transform for evaluation. Every value can be
overridden by a flag below; flags left out keep the method's paper default.

Data: --root is the directory holding CoOp's dataset folders (e.g. $DATA with
$DATA/eurosat/2750 and $DATA/eurosat/split_zhou_EuroSAT.json). The K-shot
subset (--shots, default 16) is drawn over ALL classes with --seed exactly as
Dassl does with Python's random (--sampler py; "pcg" is the project's own
generator), then --subsample keeps all classes, the base half (first ceil(n/2)
labels) or the new half, relabelled 0..k-1.

Output in --out: prompt_learner.safetensors (trainables + optimizer state,
rewritten after every epoch; usable by "cocoop eval --checkpoint" on any class
list and by --resume), train.json (config, per-epoch mean loss and accuracy,
test accuracy, skipped images) and log.txt. The progress bar (steps, loss,
accuracy, ETA) goes to stderr; with --quiet or when stderr is not a terminal,
plain log lines are printed instead. Ctrl-C stops cleanly (exit code 130); the
last finished epoch can be resumed with --resume OUT/prompt_learner.safetensors.
An --out that already holds a checkpoint is refused unless --resume or
--overwrite is given.

Example (CoCoOp, EuroSAT base classes, seed 1, as base2new_train.sh):
  cocoop train --weights ViT-B-16.pt --dataset EuroSAT --root $DATA \
      --subsample base --seed 1 --out runs/eurosat/seed1

For the whole base-to-new protocol over seeds use "cocoop base2new".`,
		run: runTrain,
	})
}

// checkpointName is the checkpoint file written in --out.
const checkpointName = "prompt_learner.safetensors"

// epochRecord is one epoch in train.json.
type epochRecord struct {
	Epoch   int     `json:"epoch"` // 1-based
	Loss    float64 `json:"loss"`  // mean batch loss
	Acc     float64 `json:"train_acc"`
	LR      float64 `json:"lr"`
	Steps   int     `json:"steps"`
	Samples int     `json:"samples"`
	Seconds float64 `json:"seconds"`
}

// trainJob is one training run.
type trainJob struct {
	cfg       cocoop.Config
	model     *clip.CLIP
	ds        *data.Dataset // selected classes with the few-shot train split
	workers   int
	skip      bool
	outDir    string // "" writes no checkpoint
	resume    *cocoop.Checkpoint
	rep       *reporter
	name      string // progress label, e.g. "EuroSAT seed 1"
	printFreq int    // plain log line every this many steps
	noAugment bool   // train on the test transform (centre crops)
	// resumeHint says how to resume after Ctrl-C, given the checkpoint
	// path (train: --resume; base2new: run the same command again).
	resumeHint func(checkpoint string) string
}

// trainOutcome is what trainLearner returns.
type trainOutcome struct {
	learner    cocoop.Learner
	epochs     []epochRecord
	skipped    data.Stats
	duration   time.Duration
	checkpoint string
	startEpoch int
	steps      int
}

// noAugmentImageBytes bounds the training images that --no-augment keeps
// in memory after their first epoch (data.Memoize): 256 MiB, 445 images at
// ViT-B/16's 224 pixels (a 16-shot EuroSAT or Oxford Pets base split whole),
// 21,845 at the demo's 32.
const noAugmentImageBytes = 256 << 20

// trainLearner builds the learner of j.cfg on the dataset's classes and
// trains it on its train split.
func trainLearner(ctx context.Context, j trainJob) (*trainOutcome, error) {
	if len(j.ds.Train) == 0 {
		return nil, fmt.Errorf("%s: the train split is empty", j.ds.Name)
	}
	var l cocoop.Learner
	if err := catch(func() {
		var err error
		l, err = cocoop.NewLearner(j.model, j.cfg, j.ds.ClassNames)
		if err != nil {
			panic(err)
		}
	}); err != nil {
		return nil, err
	}
	tr, err := cocoop.NewTrainer(l, j.cfg)
	if err != nil {
		return nil, err
	}
	if j.resume != nil {
		if err := tr.Resume(j.resume); err != nil {
			return nil, err
		}
	}
	lc := data.TrainConfig(j.cfg.BatchSize, j.cfg.Seed)
	lc.Workers, lc.SkipUnreadable = j.workers, j.skip
	transform := data.TrainTransform(j.model.ImageResolution)
	if j.noAugment { // the same image every epoch: read and transform each once
		transform = data.Memoize(data.TestTransform(j.model.ImageResolution), noAugmentImageBytes)
	}
	src, err := newLoaderSource(j.ds.Train, transform, lc, j.model.ImageResolution)
	if err != nil {
		return nil, err
	}
	out := &trainOutcome{learner: l, startEpoch: tr.Epoch}
	if j.outDir != "" {
		out.checkpoint = filepath.Join(j.outDir, checkpointName)
	}
	steps := src.NumBatches()
	remaining := j.cfg.Epochs - tr.Epoch
	if remaining <= 0 {
		return out, nil
	}
	j.rep.logf("%s: training %s on %d images of %d classes, epochs %d-%d of %d, %d steps per epoch (batch %d)",
		j.name, methodLabel(j.cfg.Method), len(j.ds.Train), len(j.ds.ClassNames), tr.Epoch+1, j.cfg.Epochs, j.cfg.Epochs, steps, j.cfg.BatchSize)
	t := j.rep.start(j.name, remaining*steps, j.printFreq)
	var sum, accSum float64
	var n int
	epochStart := time.Now()
	start := epochStart
	tr.OnStep = func(p cocoop.Progress) {
		if p.Step == 0 {
			sum, accSum, n = 0, 0, 0
		}
		sum += p.Loss
		n++
		accSum += p.Acc
		status := fmt.Sprintf("epoch %d/%d loss %.4f acc %.1f%%", p.Epoch+1, p.Epochs, sum/float64(n), accSum/float64(n))
		line := fmt.Sprintf("epoch [%d/%d] batch [%d/%d] loss %.4f (avg %.4f) acc %.1f%% lr %.4e",
			p.Epoch+1, p.Epochs, p.Step+1, p.Steps, p.Loss, sum/float64(n), accSum/float64(n), p.LR)
		t.step(1, status, line)
	}
	tr.OnEpoch = func(st cocoop.EpochStats) error {
		now := time.Now()
		rec := epochRecord{Epoch: st.Epoch + 1, Loss: st.Loss, Acc: st.Acc, LR: st.LR, Steps: st.Steps, Samples: st.Samples, Seconds: now.Sub(epochStart).Seconds()}
		epochStart = now
		out.epochs = append(out.epochs, rec)
		t.printf("%s: epoch %d/%d: loss %.4f, train acc %.2f%%, lr %.4e, %s", j.name, rec.Epoch, j.cfg.Epochs, rec.Loss, rec.Acc, rec.LR, fmtDuration(time.Duration(rec.Seconds*float64(time.Second))))
		if out.checkpoint != "" {
			if err := tr.SaveCheckpoint(out.checkpoint); err != nil {
				return err
			}
		}
		return nil
	}
	err = tr.Train(ctx, src)
	t.finish()
	out.duration = time.Since(start)
	out.skipped = src.l.Stats()
	out.steps = tr.Opt.Steps()
	if err != nil {
		if ctx.Err() != nil {
			if out.checkpoint != "" && len(out.epochs)+out.startEpoch > 0 && j.resumeHint != nil {
				return out, interrupted("%s", j.resumeHint(out.checkpoint))
			}
			return out, interrupted("no epoch finished, nothing to resume")
		}
		return out, err // cocoop names the epoch and step, counted from 1
	}
	return out, nil
}

// trainReport is train.json.
type trainReport struct {
	Command     string        `json:"command"`
	Dataset     string        `json:"dataset"`
	DatasetDir  string        `json:"dataset_dir"`
	Method      string        `json:"method"`
	Subsample   string        `json:"subsample"`
	Shots       int           `json:"shots"`
	ShotsUsed   [2]int        `json:"shots_used"` // fewest and most train images of a class
	Sampler     string        `json:"sampler"`
	Seed        uint64        `json:"seed"`
	Weights     string        `json:"weights"`
	Config      cocoop.Config `json:"config"`
	FullPrompts bool          `json:"full_prompts,omitempty"` // --full-prompts
	ClassNames  []string      `json:"class_names"`
	TrainImages int           `json:"train_images"`
	ResumedFrom string        `json:"resumed_from,omitempty"`
	StartEpoch  int           `json:"start_epoch"`
	Epochs      []epochRecord `json:"epochs"`
	OptimSteps  int           `json:"optim_steps"`
	Test        *evalRecord   `json:"test,omitempty"`
	Skipped     skippedInfo   `json:"skipped_unreadable"`
	Checkpoint  string        `json:"checkpoint"`
	Seconds     float64       `json:"seconds"`
}

// checkOutFree refuses an --out that already holds a run (its checkpoint):
// training would replace it epoch by epoch.
func checkOutFree(dir string) error {
	p := filepath.Join(dir, checkpointName)
	if _, err := os.Stat(p); err != nil {
		return nil
	}
	what := "a run"
	if ck, err := cocoop.LoadCheckpoint(p); err == nil {
		state := "finished"
		if ck.Meta.Epoch < ck.Meta.Config.Epochs {
			state = "unfinished"
		}
		what = fmt.Sprintf("a %s %s run (epoch %d of %d)", state, methodLabel(ck.Meta.Config.Method), ck.Meta.Epoch, ck.Meta.Config.Epochs)
	}
	return fmt.Errorf("--out %s already holds %s in %s; training would replace it. Pass --resume %s to continue it, --overwrite to replace it, or another --out", dir, what, checkpointName, p)
}

// evalRecord is an accuracy in the JSON reports.
type evalRecord struct {
	Split    string  `json:"split"`
	Classes  int     `json:"classes"`
	Accuracy float64 `json:"accuracy"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
}

func runTrain(fs *flag.FlagSet, args []string, stdout io.Writer) (err error) {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	dataset := fs.String("dataset", "", "dataset `name` (EuroSAT, OxfordPets, ImageNet, ...; required)")
	root := fs.String("root", "", "`directory` holding the dataset folders (required)")
	outDir := fs.String("out", "", "output `directory` for the checkpoint, train.json and log.txt (required)")
	method := fs.String("method", "cocoop", "cocoop or coop")
	shots := fs.Int("shots", 16, "images per class in the few-shot train split (0 = all)")
	seed := fs.Uint64("seed", 1, "seed of the few-shot subset, the init and the data order")
	subsample := fs.String("subsample", "all", "classes to train on: all, base or new")
	samplerName := fs.String("sampler", "py", "few-shot sampler: py (CPython-exact, the official subsets) or pcg")
	resume := fs.String("resume", "", "continue from this `checkpoint` (its settings; flags given override)")
	overwrite := fs.Bool("overwrite", false, "replace the run already in --out (its checkpoint and train.json) instead of refusing")
	doEval := fs.Bool("eval", true, "evaluate on the test split after training")
	evalBatch := fs.Int("eval-batch", 100, "images per evaluation batch")
	printFreq := fs.Int("print-freq", 0, "plain log line every N steps (default: cocoop 20, coop 5, as Dassl)")
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
	m, err := checkMethod(*method, false)
	if err != nil {
		return err
	}
	name, err := checkDatasetName(*dataset)
	if err != nil {
		return err
	}
	if err := checkSubsample(*subsample); err != nil {
		return err
	}
	if *outDir == "" {
		return usagef("--out is required (directory for the checkpoint, train.json and log.txt)")
	}
	if *shots < 0 || *evalBatch < 1 || *printFreq < 0 {
		return usagef("--shots, --print-freq must be >= 0 and --eval-batch >= 1")
	}
	if *resume == "" && !*overwrite {
		if err := checkOutFree(*outDir); err != nil {
			return err
		}
	}
	var ck *cocoop.Checkpoint
	cfg := defaultConfig(m, name)
	if *resume != "" {
		if err := checkFile("resume", *resume); err != nil {
			return err
		}
		if ck, err = cocoop.LoadCheckpoint(*resume); err != nil {
			return err
		}
		cfg = ck.Meta.Config
		if cfg.ChunkSize == 0 {
			cfg.ChunkSize = cocoop.DefaultChunkSize
		}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "method" && m != cfg.Method {
				err = usagef("--method %s, but the checkpoint %s is %s", m, *resume, cfg.Method)
			}
		})
		if err != nil {
			return err
		}
		seedSet := false
		fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
		if !seedSet {
			*seed = cfg.Seed
		}
	}
	cf.apply(fs, &cfg)
	cfg.Seed = *seed
	if err := checkConfig(cfg); err != nil {
		return err
	}
	if err := cf.check(); err != nil {
		return err
	}
	if cfg.CSC && *subsample != "all" {
		return cscError("--subsample " + *subsample)
	}
	rng, err := sampler(*samplerName, *seed)
	if err != nil {
		return err
	}
	if *printFreq == 0 {
		*printFreq = defaultPrintFreq(cfg.Method)
	}
	ds, err := loadRunData(dataSpec{weights: *weights, name: name, root: *root, shots: *shots, rng: rng, subsample: *subsample})
	if err != nil {
		return err
	}
	if ck != nil && len(ck.Meta.ClassNames) > 0 && !slices.Equal(ck.Meta.ClassNames, ds.ClassNames) {
		return fmt.Errorf("--resume %s: the checkpoint was trained on %d other classes (%q...), this run has %d", *resume, len(ck.Meta.ClassNames), ck.Meta.ClassNames[0], len(ds.ClassNames))
	}
	if *doEval {
		if err := checkEvalSplit(ds, ds.Test, "test", *subsample); err != nil {
			return fmt.Errorf("%w; pass --eval=false to train without the test evaluation", err)
		}
	}
	sess, err := startRun(fs, runSpec{args: args, weights: *weights, logDir: *outDir, quiet: rf.quiet, interrupt: true, fullPrompts: cf.fullPrompts, device: dev, textGrad: true})
	if err != nil {
		return err
	}
	defer sess.close(&err)
	ctx, rep, model := sess.ctx, sess.rep, sess.model
	begin := time.Now()
	removeStaleTemps(*outDir, rep)
	label := fmt.Sprintf("%s seed %d", ds.Name, *seed)
	lo, hi := shotsUsed(ds)
	warnFewShots(rep, label, *shots, lo, hi)
	res, err := trainLearner(ctx, trainJob{
		cfg: cfg, model: model, ds: ds, workers: rf.workers, skip: rf.skip, outDir: *outDir,
		resume: ck, rep: rep, name: label, printFreq: *printFreq, noAugment: cf.noAugment,
		resumeHint: func(ck string) string {
			return fmt.Sprintf("resume the last finished epoch by running the same command with --resume %s", ck)
		},
	})
	if err != nil {
		return err
	}
	rep2 := trainReport{
		Command: "train", Dataset: ds.Name, DatasetDir: ds.Dir, Method: cfg.Method, Subsample: *subsample, Shots: *shots, ShotsUsed: [2]int{lo, hi},
		Sampler: *samplerName, Seed: *seed, Weights: *weights, Config: cfg, FullPrompts: cf.fullPrompts, ClassNames: ds.ClassNames,
		TrainImages: len(ds.Train), StartEpoch: res.startEpoch, Epochs: res.epochs, OptimSteps: res.steps,
		Checkpoint: res.checkpoint,
	}
	if res.epochs == nil {
		rep2.Epochs = []epochRecord{}
	}
	if ck != nil {
		rep2.ResumedFrom = *resume
	}
	rep2.Skipped.add(res.skipped)
	if *doEval {
		eo := evalOptions{model.ImageResolution, *evalBatch, rf.workers, rf.skip}
		r, skipped, err := evaluateItems(ctx, res.learner, ds.Test, eo, rep, label+" test", nil)
		if err != nil {
			return err
		}
		rep2.Skipped.add(skipped)
		rep2.Test = &evalRecord{Split: "test", Classes: len(ds.ClassNames), Accuracy: r.Accuracy, Correct: r.Correct, Total: r.Total}
	}
	rep2.Seconds = time.Since(begin).Seconds()
	jsonPath := filepath.Join(*outDir, "train.json")
	if err := writeJSON(jsonPath, rep2); err != nil {
		return err
	}
	// Summary.
	fmt.Fprintf(stdout, "%s on %s (%s classes: %d, %s, seed %d, sampler %s)\n",
		methodLabel(cfg.Method), ds.Name, *subsample, len(ds.ClassNames), shotsLabel(*shots, lo, hi), *seed, *samplerName)
	fmt.Fprintf(stdout, "  train: %d images, epochs %d-%d of %d, %d optimizer steps in %s\n",
		len(ds.Train), res.startEpoch+1, cfg.Epochs, cfg.Epochs, res.steps, fmtDuration(res.duration))
	if len(res.epochs) > 0 {
		fmt.Fprintf(stdout, "  %-6s %-9s %-10s %s\n", "epoch", "loss", "train acc", "lr")
		for _, e := range res.epochs {
			fmt.Fprintf(stdout, "  %-6d %-9.4f %-10s %.4e\n", e.Epoch, e.Loss, fmt.Sprintf("%.2f%%", e.Acc), e.LR)
		}
	}
	if rep2.Test != nil {
		fmt.Fprintf(stdout, "  test accuracy: %.2f%% (%d/%d, %d-way)\n", rep2.Test.Accuracy, rep2.Test.Correct, rep2.Test.Total, rep2.Test.Classes)
	}
	writeSkipped(stdout, rep2.Skipped)
	fmt.Fprintf(stdout, "  wrote %s, %s, %s\n", res.checkpoint, jsonPath, filepath.Join(*outDir, "log.txt"))
	return nil
}
