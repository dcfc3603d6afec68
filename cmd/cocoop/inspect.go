package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/plot"
	"github.com/gocoop/gocoop/tensor"
)

func init() {
	register("inspect", &command{
		summary: "show how gradients and attention flow through CoCoOp for one image",
		usage:   "--weights PATH --image PATH[,PATH...] (--classes a,b,c | --dataset NAME --root DIR) --out DIR [--label CLASS[,CLASS...]] [--checkpoint PATH | --seed N] [--train-steps N]",
		help: `Runs one CoCoOp forward and backward pass for one image, or a batch of
images (--image a.png,b.png), and their true classes (--label, a class name or
index per image, or one for all; default the first class) over all classes,
with the whole graph kept, and records what reaches the trainables: the
meta-net output π(x) per image (added to every context vector) and its
gradient, the gradient norms of the context (per context vector, in total and
per image) and of the meta-net layers, the gradient norm at the output of
every text-encoder block and at every prompt position, the attention of each
class's EOT token (whose output becomes the class feature) to the prompt
positions in every layer, and gradient × attention there (docs/cocoop.md §1.4).

The prompt is a learned one (--checkpoint, from cocoop train --method cocoop,
applied to these classes) or a fresh initialisation (--seed, --ctx-init,
--n-ctx: the state at the start of training). Class names come from --classes
or from a dataset (--dataset, --root, --subsample).

With --train-steps N, it then trains the prompt for N optimizer steps on
these images and labels (one batch of all of them per step, CoCoOp's
optimizer and schedule with N epochs of one step) and records the
trainables' gradients at every step.

Writes into --out (figures for the first image and its true class; token
strings label the positions):
  inspect.csv              every value, tidy rows kind,image,class,layer,head,position,value
  eot_attention.png        EOT attention and gradient × attention, layers × positions,
                           each layer on its own colour scale, values in the cells
  eot_attention_heads.png  the same attention per head (small multiples, log scale)
  grad_position_layer.png  gradient norm per position: input and every block's output (log scale)
  block_grad_norm.png      gradient norm per text-encoder block, one line per class (log axis)
  grad_norms.png           gradient norms of each context vector, π(x) and the meta-net (log axis)
  pi.png                   π(x) (an activation): histogram of its components and its norm
  grad_history.csv/.png    with --train-steps: loss, gradient norms per trainable and
                           per context vector, and the trainables' norms, per step
and prints a short summary. The figures come from package cocoop/plot. The same data is available from Go:
cocoop.InspectGradients(learner, images, labels, classNames) returns a
*cocoop.GradInspection (its WriteCSV writes inspect.csv); the graph itself
(π(x), ctx + π(x), the prompts, every block) comes from
learner.ForwardTrace, and gradients over training from a
cocoop.GradHistory set as the Trainer's OnBackward.

Example:
  cocoop inspect --weights ViT-B-16.pt --image cat.jpg --classes cat,dog,car \
      --label cat --checkpoint runs/pets/seed1/prompt_learner.safetensors --out inspect/`,
		run: runInspect,
	})
}

func runInspect(fs *flag.FlagSet, args []string, stdout io.Writer) (err error) {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	imagePath := fs.String("image", "", "image `paths`, comma-separated (required)")
	classes := fs.String("classes", "", "comma-separated class `names`")
	dataset := fs.String("dataset", "", "take the class names from this dataset `name`")
	root := fs.String("root", "", "`directory` holding the dataset folders (with --dataset)")
	subsample := fs.String("subsample", "all", "with --dataset: all, base or new classes")
	label := fs.String("label", "", "true class per image, comma-separated, or one for all: a `name` or 0-based index (default: the first class)")
	checkpoint := fs.String("checkpoint", "", "learned CoCoOp prompt `path`: a GoCoOp checkpoint, an official model.pth.tar-N or output folder (default: a fresh init)")
	seed := fs.Uint64("seed", 1, "seed of the fresh init (without --checkpoint)")
	ctxInit := fs.String("ctx-init", cocoop.DefaultCtxInit, "fresh init: context words (\"\" or \"random\": N(0, 0.02²))")
	nCtx := fs.Int("n-ctx", 4, "fresh init: context length with random init")
	outDir := fs.String("out", "", "output `directory` (required)")
	trainSteps := fs.Int("train-steps", 0, "then train `N` steps on the images and plot the gradients over training")
	threads := addThreadsFlag(fs)
	deviceName := addDeviceFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	dev, err := openDevice(*deviceName)
	if err != nil {
		return err
	}
	restore, err := setThreads(*threads)
	if err != nil {
		return err
	}
	defer restore()
	names := splitClasses(*classes)
	switch {
	case *outDir == "":
		return usagef("--out is required")
	case *trainSteps < 0:
		return usagef("--train-steps %d: give 0 or more steps", *trainSteps)
	case *imagePath == "":
		return usagef("--image is required")
	case len(names) == 0 && *dataset == "":
		return usagef("give --classes a,b,c or --dataset NAME --root DIR for the class names")
	case len(names) > 0 && *dataset != "":
		return usagef("give either --classes or --dataset, not both")
	}
	if err := checkClassNames(names); err != nil {
		return err
	}
	if *dataset != "" {
		name, err := checkDatasetName(*dataset)
		if err != nil {
			return err
		}
		if err := checkSubsample(*subsample); err != nil {
			return err
		}
		ds, err := loadRunData(dataSpec{weights: *weights, name: name, root: *root, subsample: *subsample})
		if err != nil {
			return err
		}
		names = ds.ClassNames
	}
	paths := strings.Split(*imagePath, ",")
	labels := make([]int, len(paths))
	if *label != "" {
		given := strings.Split(*label, ",")
		if len(given) != 1 && len(given) != len(paths) {
			return usagef("--label gives %d classes for %d images: give one per image, or one for all", len(given), len(paths))
		}
		for i := range labels {
			l := given[min(i, len(given)-1)]
			if labels[i] = classIndex(names, l); labels[i] < 0 {
				j, err := strconv.Atoi(l)
				if err != nil || j < 0 || j >= len(names) {
					return usagef("--label %q is neither one of the %d class names nor an index in [0, %d)", l, len(names), len(names))
				}
				labels[i] = j
			}
		}
	}
	for _, p := range paths {
		if err := checkFile("image", p); err != nil {
			return err
		}
	}
	var ck *cocoop.Checkpoint
	if *checkpoint != "" {
		if err := checkCheckpoint(*checkpoint); err != nil {
			return err
		}
		if ck, err = cocoop.LoadCheckpoint(*checkpoint); err != nil {
			return err
		}
		if ck.Meta.Config.Method != cocoop.MethodCoCoOp {
			return fmt.Errorf("--checkpoint %s is a %s prompt; inspect needs a CoCoOp one (it has the meta-net π)", *checkpoint, ck.Meta.Config.Method)
		}
	}
	sess, err := startRun(fs, runSpec{args: args, weights: *weights, device: dev, textGrad: true})
	if err != nil {
		return err
	}
	defer sess.close(&err)
	model := sess.model
	img, err := loadImages(paths, model.ImageResolution)
	if err != nil {
		return err
	}
	var c *cocoop.CoCoOp
	if ck != nil {
		l, err := ck.NewLearner(model, names)
		if err != nil {
			return err
		}
		c = l.(*cocoop.CoCoOp)
	} else {
		cfg := cocoop.DefaultCoCoOpConfig()
		cfg.Seed, cfg.CtxInit, cfg.NCtx = *seed, *ctxInit, *nCtx
		if strings.EqualFold(cfg.CtxInit, "random") {
			cfg.CtxInit = ""
		}
		if err := checkConfig(cfg); err != nil {
			return err
		}
		if c, err = cocoop.NewCoCoOp(model, cfg, names); err != nil {
			return err
		}
	}
	ins, err := cocoop.InspectGradients(c, img, labels, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	csvPath := filepath.Join(*outDir, "inspect.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	if err := ins.WriteCSV(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	pngs, err := plot.InspectionFigures(ins, *outDir)
	if err != nil {
		return err
	}
	writeInspectSummary(stdout, ins, paths, ck != nil)
	if *trainSteps > 0 {
		h, err := inspectTraining(c, img, labels, *trainSteps)
		if err != nil {
			return err
		}
		hp := filepath.Join(*outDir, "grad_history.csv")
		if err := ckpt.WriteFileAtomic(hp, h.WriteCSV); err != nil {
			return err
		}
		fp := filepath.Join(*outDir, "grad_history.png")
		if err := plot.GradFlow(h).Save(fp); err != nil {
			return err
		}
		pngs = append(pngs, hp, fp)
		first, last := h.Steps[0], h.Steps[len(h.Steps)-1]
		fmt.Fprintf(stdout, "trained %d steps: loss %.4f → %.4f; gradient norm, first → last step:", len(h.Steps), first.Loss, last.Loss)
		for k, p := range first.Params {
			fmt.Fprintf(stdout, " %s %.3g → %.3g", p.Name, p.GradNorm, last.Params[k].GradNorm)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "wrote %s, %s\n", csvPath, strings.Join(pngs, ", "))
	return nil
}

// inspectTraining trains c for steps optimizer steps on one batch of
// images and labels (steps epochs of one step, so that CoCoOp's warm-up and
// cosine schedule run over them) and returns the gradients at every step.
func inspectTraining(c *cocoop.CoCoOp, images *tensor.Tensor, labels []int, steps int) (*cocoop.GradHistory, error) {
	cfg := c.Config()
	cfg.Epochs = steps
	tr, err := cocoop.NewTrainer(c, cfg)
	if err != nil {
		return nil, err
	}
	h := &cocoop.GradHistory{}
	tr.OnBackward = h.Recorder(c)
	src := &cocoop.SliceSource{Images: images, Labels: labels, BatchSize: len(labels)}
	if err := tr.Train(context.Background(), src); err != nil {
		return nil, err
	}
	return h, nil
}

func classIndex(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	for i, n := range names {
		if strings.EqualFold(cocoop.PromptName(n), cocoop.PromptName(s)) {
			return i
		}
	}
	return -1
}

// positionGroups names the part of the prompt each position 0..eot of a
// class belongs to: SOS, context, name, "." or EOT.
func positionGroups(nCtx, eot int) []string {
	out := make([]string, eot+1)
	for j := range out {
		switch {
		case j == 0:
			out[j] = "SOS"
		case j <= nCtx:
			out[j] = "context"
		case j == eot:
			out[j] = "EOT"
		case j == eot-1:
			out[j] = "."
		default:
			out[j] = "name"
		}
	}
	return out
}

func writeInspectSummary(w io.Writer, g *cocoop.GradInspection, images []string, learned bool) {
	state := "fresh initialisation"
	if learned {
		state = "learned prompt"
	}
	fmt.Fprintf(w, "CoCoOp gradient inspection (%s): %d image(s) among %d classes, batch loss %.4f\n", state, len(images), len(g.Images[0].Classes), g.Loss)
	fmt.Fprintf(w, "  gradient norms: ctx %.4g (per context vector:", g.CtxGradNorm)
	for _, v := range g.CtxVecGradNorms {
		fmt.Fprintf(w, " %.3g", v)
	}
	fmt.Fprintf(w, "), prompt embeddings %.4g", g.PromptGradNorm)
	for _, l := range g.MetaNet {
		fmt.Fprintf(w, ", %s weight %.4g bias %.4g", l.Layer, l.WeightGradNorm, l.BiasGradNorm)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  gradient norm per text block (0..%d), all prompts:", g.Layers-1)
	for _, v := range g.BlockGradNorms {
		fmt.Fprintf(w, " %.3g", v)
	}
	fmt.Fprintln(w)
	for i, im := range g.Images {
		truth := im.Classes[im.Label]
		pred := 0
		for j, c := range im.Classes {
			if c.Prob > im.Classes[pred].Prob {
				pred = j
			}
		}
		fmt.Fprintf(w, "image %d: %s, true class %q (label %d) among %d classes\n", i, images[i], truth.Name, im.Label, len(im.Classes))
		fmt.Fprintf(w, "  loss %.4f, p(true) %.2f%%, predicted %q (%.2f%%)\n", im.Loss, 100*truth.Prob, im.Classes[pred].Name, 100*im.Classes[pred].Prob)
		fmt.Fprintf(w, "  π(x): norm %.4g, added to each of the %d context vectors; ‖∂loss/∂π(x)‖ %.4g\n", im.PiNorm, g.NCtx, im.PiGradNorm)
		// Each class prompt sends ctx its own gradient; ctx receives their
		// sum, in which they largely cancel (docs/gradient_flow.md §3).
		fmt.Fprintf(w, "  context gradient over the classes, ‖Σ_c g_c‖ / Σ_c ‖g_c‖ per context vector:")
		for m, v := range im.CtxGradNorms {
			s := 0.0
			for _, c := range im.Classes {
				s += c.PromptGradNormPos[1+m]
			}
			fmt.Fprintf(w, " %.3g", v/s)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  true class, ‖∂loss/∂input embedding‖ per position:")
		for j, v := range truth.PromptGradNormPos {
			fmt.Fprintf(w, " %s %.3g", truth.Tokens[j], v)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  true class, gradient norm per text block (0..%d):", g.Layers-1)
		for _, v := range truth.BlockGradNorms {
			fmt.Fprintf(w, " %.3g", v)
		}
		fmt.Fprintln(w)
		if n := len(truth.EOTAttention); n > 0 {
			groups := positionGroups(g.NCtx, truth.EOT)
			for _, m := range []struct {
				what string
				row  []float64
			}{{"EOT attention", truth.EOTAttention[n-1]}, {"gradient × EOT attention", truth.EOTGradAttention[n-1]}} {
				sums := map[string]float64{}
				var order []string
				for j, a := range m.row {
					k := groups[j]
					if _, ok := sums[k]; !ok {
						order = append(order, k)
					}
					sums[k] += a
				}
				fmt.Fprintf(w, "  true class, %s in the last layer (head mean):", m.what)
				for _, k := range order {
					fmt.Fprintf(w, " %s %.3g", k, sums[k])
				}
				fmt.Fprintln(w)
			}
		}
	}
}
