package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/gocoop/gocoop/cocoop"
)

func init() {
	register("eval", &command{
		summary: "evaluate a learned prompt or zero-shot CLIP on a dataset split",
		usage:   "--weights PATH --dataset NAME --root DIR (--checkpoint PATH | --method zeroshot [--ensemble]) [--subsample all|base|new] [--split test|val] [--out DIR]",
		help: `Top-1 accuracy (percent, full precision) of a classifier on a dataset split,
with only the selected classes as candidates (docs/cocoop.md §3.2–3.3).

  --checkpoint PATH   a prompt learned by "cocoop train" (CoCoOp or CoOp). Its
                      class buffers are rebuilt from this dataset's class names,
                      so it applies to ANY class list: the new classes of the
                      base-to-new protocol (--subsample new, as base2new_test.sh)
                      or another dataset (cross-dataset transfer, §3.5). A CoOp
                      class-specific (CSC) context only fits its own classes.
                      A checkpoint of the official code (KaiyangZhou/CoOp) works
                      too: its file (prompt_learner/model.pth.tar-10) or output
                      folder (model-best.pth.tar, else the highest epoch).
  --method zeroshot   zero-shot CLIP with the dataset's hand-written template
                      (e.g. EuroSAT: "a centered satellite photo of {}."), or
                      with --ensemble the 7 ImageNet templates + the dataset's,
                      or with --template your own (repeatable).

The test transform is Dassl's (resize the short side to the model resolution,
bicubic, centre crop, CLIP normalisation). --split val evaluates the val split
(few-shot sampled when --shots > 0, as Dassl does). Prints the accuracy and,
with --out DIR, writes DIR/eval.json (accuracy, per-class accuracy, settings).

Examples:
  cocoop eval --weights ViT-B-16.pt --dataset EuroSAT --root $DATA \
      --checkpoint runs/eurosat/seed1/prompt_learner.safetensors --subsample new
  cocoop eval --weights ViT-B-16.pt --dataset DescribableTextures --root $DATA \
      --checkpoint runs/imagenet/seed1/prompt_learner.safetensors
  cocoop eval --weights ViT-B-16.pt --dataset EuroSAT --root $DATA --method zeroshot --subsample base`,
		run: runEval,
	})
}

// evalReport is eval.json.
type evalReport struct {
	Command    string          `json:"command"`
	Dataset    string          `json:"dataset"`
	DatasetDir string          `json:"dataset_dir"`
	Split      string          `json:"split"`
	Subsample  string          `json:"subsample"`
	Method     string          `json:"method"`
	Checkpoint string          `json:"checkpoint,omitempty"`
	Trained    *trainedInfo    `json:"trained,omitempty"`
	Templates  []string        `json:"templates,omitempty"`
	Weights    string          `json:"weights"`
	ClassNames []string        `json:"class_names"`
	Accuracy   float64         `json:"accuracy"`
	Correct    int             `json:"correct"`
	Total      int             `json:"total"`
	PerClass   []classAccuracy `json:"per_class"`
	Skipped    skippedInfo     `json:"skipped_unreadable"`
	Seconds    float64         `json:"seconds"`
}

// trainedInfo describes the checkpoint of an evaluation.
type trainedInfo struct {
	Epoch      int           `json:"epoch"`
	Classes    int           `json:"classes"`
	ClassNames []string      `json:"class_names,omitempty"`
	Config     cocoop.Config `json:"config"`
}

type classAccuracy struct {
	Class    string  `json:"class"`
	Accuracy float64 `json:"accuracy"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
}

func perClass(names []string, r cocoop.EvalResult) []classAccuracy {
	out := make([]classAccuracy, len(names))
	for i, n := range names {
		out[i].Class = n
	}
	for i, l := range r.Labels {
		if l >= 0 && l < len(out) {
			out[l].Total++
			if r.Preds[i] == l {
				out[l].Correct++
			}
		}
	}
	for i := range out {
		if out[i].Total > 0 {
			out[i].Accuracy = 100 * float64(out[i].Correct) / float64(out[i].Total)
		}
	}
	return out
}

func runEval(fs *flag.FlagSet, args []string, stdout io.Writer) (err error) {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	dataset := fs.String("dataset", "", "dataset `name` (required)")
	root := fs.String("root", "", "`directory` holding the dataset folders (required)")
	checkpoint := fs.String("checkpoint", "", "learned prompt `path` written by cocoop train, or an official CoOp/CoCoOp model.pth.tar-N or output folder")
	method := fs.String("method", "", "zeroshot, when no --checkpoint is given")
	ensemble := fs.Bool("ensemble", false, "zeroshot: average the 7 ImageNet templates and the dataset's (ZeroshotCLIP2)")
	var templates stringList
	fs.Var(&templates, "template", "zeroshot: prompt `template` with {} (repeatable; default: the dataset's)")
	subsample := fs.String("subsample", "all", "classes: all, base (first half of the labels) or new (second half)")
	split := fs.String("split", "test", "test or val")
	shots := fs.Int("shots", 0, "few-shot sampling before subsampling (affects --split val only; 0 = none)")
	seed := fs.Uint64("seed", 1, "seed of the few-shot sampling")
	samplerName := fs.String("sampler", "py", "few-shot sampler: py or pcg")
	evalBatch := fs.Int("eval-batch", 100, "images per batch")
	outDir := fs.String("out", "", "write `DIR`/eval.json")
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
	name, err := checkDatasetName(*dataset)
	if err != nil {
		return err
	}
	if err := checkSubsample(*subsample); err != nil {
		return err
	}
	if *split != "test" && *split != "val" {
		return usagef("--split %q: want test or val", *split)
	}
	if *evalBatch < 1 || *shots < 0 {
		return usagef("--eval-batch must be >= 1 and --shots >= 0")
	}
	rng, err := sampler(*samplerName, *seed)
	if err != nil {
		return err
	}
	m := ""
	if *method != "" {
		if m, err = checkMethod(*method, true); err != nil {
			return err
		}
	}
	var ck *cocoop.Checkpoint
	switch {
	case *checkpoint == "" && m != cocoop.MethodZeroShot:
		return usagef("give --checkpoint PATH (a prompt learned by cocoop train) or --method zeroshot")
	case *checkpoint != "" && m == cocoop.MethodZeroShot:
		return usagef("--method zeroshot takes no --checkpoint")
	case *checkpoint == "" && (*ensemble || len(templates) > 0) && m != cocoop.MethodZeroShot:
		return usagef("--ensemble and --template apply to --method zeroshot")
	}
	for _, t := range templates {
		if !strings.Contains(t, "{}") {
			return usagef("template %q has no {} for the class name", t)
		}
	}
	if *checkpoint != "" {
		if err := checkCheckpoint(*checkpoint); err != nil {
			return err
		}
		if ck, err = cocoop.LoadCheckpoint(*checkpoint); err != nil {
			return err
		}
		if m != "" && m != ck.Meta.Config.Method {
			return usagef("--method %s, but the checkpoint %s is %s", m, *checkpoint, ck.Meta.Config.Method)
		}
		m = ck.Meta.Config.Method
	}
	ds, err := loadRunData(dataSpec{weights: *weights, name: name, root: *root, shots: *shots, rng: rng, subsample: *subsample})
	if err != nil {
		return err
	}
	if ck != nil && ck.Meta.Config.CSC && len(ds.ClassNames) != ck.Meta.NCls {
		return fmt.Errorf("--checkpoint %s has a class-specific (CSC) context for %d classes; %s %s has %d: CSC does not transfer to other classes (CoOp issue #69)",
			*checkpoint, ck.Meta.NCls, ds.Name, *subsample, len(ds.ClassNames))
	}
	items := ds.Test
	if *split == "val" {
		items = ds.Val
	}
	if len(items) == 0 {
		return fmt.Errorf("%s: the %s split of the %s classes is empty", ds.Name, *split, *subsample)
	}
	sess, err := startRun(fs, runSpec{args: args, weights: *weights, quiet: rf.quiet, interrupt: true, device: dev})
	if err != nil {
		return err
	}
	defer sess.close(&err)
	ctx, rep, model := sess.ctx, sess.rep, sess.model
	begin := time.Now()
	var cl cocoop.Classifier
	report := evalReport{
		Command: "eval", Dataset: ds.Name, DatasetDir: ds.Dir, Split: *split, Subsample: *subsample, Method: m,
		Checkpoint: *checkpoint, Weights: *weights, ClassNames: ds.ClassNames,
	}
	err = catch(func() {
		var err error
		switch {
		case ck != nil:
			cl, err = ck.NewLearner(model, ds.ClassNames)
			report.Trained = &trainedInfo{Epoch: ck.Meta.Epoch, Classes: ck.Meta.NCls, ClassNames: ck.Meta.ClassNames, Config: ck.Meta.Config}
		case len(templates) > 0:
			cl, err = cocoop.NewZeroShot(model, templates, ds.ClassNames)
			report.Templates = templates
		default:
			var z *cocoop.ZeroShot
			z, err = cocoop.NewZeroShotForDataset(model, ds.Name, *ensemble, ds.ClassNames)
			cl = z
			if z != nil {
				report.Templates = z.Templates
			}
		}
		if err != nil {
			panic(err)
		}
	})
	if err != nil {
		return err
	}
	label := fmt.Sprintf("%s %s (%s)", ds.Name, *split, *subsample)
	eo := evalOptions{model.ImageResolution, *evalBatch, rf.workers, rf.skip}
	r, skipped, err := evaluateItems(ctx, cl, items, eo, rep, label, nil)
	if err != nil {
		return err
	}
	report.Skipped.add(skipped)
	report.Accuracy, report.Correct, report.Total = r.Accuracy, r.Correct, r.Total
	report.PerClass = perClass(ds.ClassNames, r)
	report.Seconds = time.Since(begin).Seconds()

	what := methodLabel(m)
	if ck != nil {
		what = fmt.Sprintf("%s (%s: epoch %d, trained on %d classes)", what, *checkpoint, ck.Meta.Epoch, ck.Meta.NCls)
	} else if len(report.Templates) == 1 {
		what = fmt.Sprintf("%s zero-shot (template %q)", what, report.Templates[0])
	} else {
		what = fmt.Sprintf("%s zero-shot (%d templates)", what, len(report.Templates))
	}
	fmt.Fprintf(stdout, "%s\n  %s %s split, %s classes (%d-way): accuracy %.2f%% (%d/%d) in %s\n",
		what, ds.Name, *split, *subsample, len(ds.ClassNames), r.Accuracy, r.Correct, r.Total, fmtDuration(time.Since(begin)))
	writeSkipped(stdout, report.Skipped)
	if *outDir != "" {
		p := filepath.Join(*outDir, "eval.json")
		if err := writeJSON(p, report); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  wrote %s\n", p)
	}
	return nil
}
