package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/gocoop/gocoop/cocoop"
)

func init() {
	register("inspect", &command{
		summary: "show how gradients and attention flow through CoCoOp for one image",
		usage:   "--weights PATH --image PATH[,PATH...] (--classes a,b,c | --dataset NAME --root DIR) --out DIR [--label CLASS[,CLASS...]] [--checkpoint PATH | --seed N]",
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

Writes into --out:
  inspect.csv           every value, tidy rows kind,image,class,layer,head,position,value
  block_grad_norm.png   gradient norm per text-encoder block, one line per class (first image)
  eot_attention.png     EOT attention over prompt positions per layer (first image, true class)
  pi.png                π(x) per dimension (first image)
  grad_norms.png        ‖π(x)‖ and the gradient norms of ctx and the meta-net
and prints a short summary. The same data is available from Go:
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
	threads := addThreadsFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
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
	sess, err := startRun(fs, runSpec{args: args, weights: *weights})
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
	pngs, err := inspectPlots(ins, *outDir)
	if err != nil {
		return err
	}
	writeInspectSummary(stdout, ins, paths, ck != nil)
	fmt.Fprintf(stdout, "wrote %s, %s\n", csvPath, strings.Join(pngs, ", "))
	return nil
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

// positionGroups names the prompt positions 0..eot of a class.
func positionGroups(nCtx, eot int) []string {
	out := make([]string, eot+1)
	for j := range out {
		switch {
		case j == 0:
			out[j] = "SOS"
		case j <= nCtx:
			out[j] = fmt.Sprintf("ctx%d", j)
		case j == eot:
			out[j] = "EOS"
		case j == eot-1:
			out[j] = "."
		default:
			out[j] = fmt.Sprintf("name%d", j-nCtx)
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
					if strings.HasPrefix(k, "ctx") {
						k = "context"
					} else if strings.HasPrefix(k, "name") {
						k = "name"
					}
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

// inspectPlots writes the PNG plots and returns their paths.
func inspectPlots(g *cocoop.GradInspection, dir string) (paths []string, err error) {
	im := &g.Images[0]
	err = catch(func() {
		save := func(p *plot.Plot, name string, w, h vg.Length) {
			path := filepath.Join(dir, name)
			if err := p.Save(w, h, path); err != nil {
				panic(err)
			}
			paths = append(paths, path)
		}
		// (1) block gradient norms, one line per class (at most 20, the
		// true class and the most probable others).
		p := plot.New()
		p.Title.Text = "‖∂loss/∂ block output‖ per text-encoder block"
		p.X.Label.Text = "block"
		p.Y.Label.Text = "gradient norm"
		var lines []any
		for _, i := range plottedClasses(im, 20) {
			c := im.Classes[i]
			xy := make(plotter.XYs, len(c.BlockGradNorms))
			for l, v := range c.BlockGradNorms {
				xy[l] = plotter.XY{X: float64(l), Y: v}
			}
			name := c.Name
			if i == im.Label {
				name += " (true)"
			}
			lines = append(lines, name, xy)
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			panic(err)
		}
		var bt []plot.Tick // one tick per block
		for l := range im.Classes[im.Label].BlockGradNorms {
			bt = append(bt, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(bt)
		p.Legend.Top = true
		save(p, "block_grad_norm.png", 8*vg.Inch, 5*vg.Inch)

		// (2) EOT attention heatmap of the true class: layers × positions.
		c := im.Classes[im.Label]
		p = plot.New()
		p.Title.Text = fmt.Sprintf("EOT attention, class %q\n(head mean; red low, white high)", c.Name)
		p.X.Label.Text = "prompt position"
		p.Y.Label.Text = "layer"
		grid := attnGrid(c.EOTAttention)
		hm := plotter.NewHeatMap(grid, palette.Heat(64, 1))
		p.Add(hm)
		labels := positionGroups(g.NCtx, c.EOT)
		ticks := make([]plot.Tick, len(labels))
		for j, l := range labels {
			ticks[j] = plot.Tick{Value: float64(j), Label: l}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		var yt []plot.Tick
		for l := range c.EOTAttention {
			yt = append(yt, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
		}
		p.Y.Tick.Marker = plot.ConstantTicks(yt)
		save(p, "eot_attention.png", vg.Length(max(6, len(labels)/2))*vg.Inch, 5*vg.Inch)

		// (3a) π(x) per dimension.
		p = plot.New()
		p.Title.Text = fmt.Sprintf("π(x) (norm %.4g)", im.PiNorm)
		p.X.Label.Text = "dimension"
		xy := make(plotter.XYs, len(im.Pi))
		for i, v := range im.Pi {
			xy[i] = plotter.XY{X: float64(i), Y: v}
		}
		ln, err := plotter.NewLine(xy)
		if err != nil {
			panic(err)
		}
		p.Add(ln)
		save(p, "pi.png", 8*vg.Inch, 4*vg.Inch)

		// (3b) norms bar chart.
		p = plot.New()
		p.Title.Text = "‖π(x)‖ and gradient norms of the trainables"
		vals := plotter.Values{im.PiNorm, g.CtxGradNorm}
		names := []string{"‖π(x)‖", "ctx"}
		for _, l := range g.MetaNet {
			vals = append(vals, l.WeightGradNorm, l.BiasGradNorm)
			names = append(names, l.Layer+".weight", l.Layer+".bias")
		}
		bc, err := plotter.NewBarChart(vals, vg.Points(30))
		if err != nil {
			panic(err)
		}
		p.Add(bc)
		p.NominalX(names...)
		save(p, "grad_norms.png", 8*vg.Inch, 4*vg.Inch)
	})
	return paths, err
}

// plottedClasses returns the true class of image im and its most probable
// others, at most n, in class order.
func plottedClasses(im *cocoop.ImageInspection, n int) []int {
	idx := make([]int, len(im.Classes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ia, ib := idx[a], idx[b]
		if (ia == im.Label) != (ib == im.Label) {
			return ia == im.Label
		}
		return im.Classes[ia].Prob > im.Classes[ib].Prob
	})
	idx = idx[:min(n, len(idx))]
	sort.Ints(idx)
	return idx
}

// attnGrid is a plotter.GridXYZ of EOT attention: columns are prompt
// positions, rows layers.
type attnGrid [][]float64

func (a attnGrid) Dims() (c, r int)   { return len(a[0]), len(a) }
func (a attnGrid) Z(c, r int) float64 { return a[r][c] }
func (a attnGrid) X(c int) float64    { return float64(c) }
func (a attnGrid) Y(r int) float64    { return float64(r) }
