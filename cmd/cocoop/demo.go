package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
)

func init() {
	register("demo", &command{
		summary: "run the whole pipeline on built-in synthetic data (no downloads)",
		usage:   "[--out DIR] [--size small|vitb16] [--epochs N] [--shots K]",
		help: `Runs GoCoOp end to end on data it makes itself, so a fresh machine can see
every stage without the real weights or datasets:

  1. writes a CLIP checkpoint with deterministic random ("hash") weights —
     a small model by default, or the full ViT-B/16 shape with --size vitb16,
  2. writes a synthetic 10-class dataset in CoOp's EuroSAT layout (flat
     colour images with a texture, one colour per class),
  3. runs "cocoop base2new" with CoCoOp (seed 1): few-shot sampling, training
     on the 5 base classes with progress bars, evaluation on base and new,
  4. runs "cocoop inspect" on one image with the learned prompt: gradient
     norms through the frozen text encoder, π(x), EOT attention (CSV + PNG).

The weights are random, so the accuracies mean nothing about CLIP; the demo
shows the machinery, its outputs and its speed. For real runs, pass the real
checkpoint and dataset root to "cocoop base2new" (see its --help).

Example:
  cocoop demo --out demo-run`,
		run: runDemo,
	})
}

// demoSmall is the default demo model: small towers with the real
// vocabulary and context, so the real tokenizer works.
var demoSmall = clip.Config{
	EmbedDim: 64, ImageResolution: 64, VisionLayers: 2, VisionWidth: 128, VisionHeads: 2,
	VisionPatchSize: 16, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 128, TransformerHeads: 2, TransformerLayers: 2,
}

func runDemo(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	out := fs.String("out", "", "output `directory` (default: a new temporary directory)")
	size := fs.String("size", "small", "model: small (2 blocks per tower) or vitb16 (the full ViT-B/16 shape)")
	epochs := fs.Int("epochs", 3, "CoCoOp training epochs (the paper uses 10)")
	shots := fs.Int("shots", 4, "training images per class (the paper uses 16)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := demoSmall
	switch *size {
	case "small":
	case "vitb16":
		cfg = clip.ViTB16
	default:
		return usagef("--size must be small or vitb16, got %q", *size)
	}
	if *epochs < 1 || *shots < 1 {
		return usagef("--epochs and --shots must be at least 1")
	}
	dir := *out
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cocoop-demo-"); err != nil {
			return err
		}
	}
	stderr := stderrOf(fs)
	weights := filepath.Join(dir, "clip-"+*size+"-hash.safetensors")
	fmt.Fprintf(stdout, "demo: writing %s (random hash weights, %s)\n", weights, *size)
	if err := writeHashCheckpoint(weights, cfg); err != nil {
		return err
	}
	root := filepath.Join(dir, "data")
	fmt.Fprintf(stdout, "demo: writing a synthetic 10-class EuroSAT-layout dataset under %s\n", root)
	if err := writeDemoEuroSAT(root, len(demoClasses), *shots+2, 2, 4, cfg.ImageResolution+cfg.ImageResolution/4); err != nil {
		return err
	}
	runs := filepath.Join(dir, "runs")
	steps := []struct {
		what string
		args []string
	}{
		{"base-to-new with CoCoOp", []string{"base2new", "--weights", weights, "--dataset", "EuroSAT", "--root", root,
			"--out", runs, "--seeds", "1", "--shots", strconv.Itoa(*shots), "--epochs", strconv.Itoa(*epochs)}},
		{"gradient inspection of the learned prompt", []string{"inspect", "--weights", weights,
			"--image", filepath.Join(root, "eurosat", "2750", demoClasses[0].folder, demoClasses[0].folder+"_test_0.png"),
			"--dataset", "EuroSAT", "--root", root, "--subsample", "base",
			"--checkpoint", filepath.Join(runs, "EuroSAT", "seed1", checkpointName), "--out", filepath.Join(dir, "inspect")}},
	}
	for _, s := range steps {
		fmt.Fprintf(stdout, "\ndemo: %s\n$ cocoop %s\n\n", s.what, shellJoin(s.args))
		if code := run(s.args, stdout, stderr); code != 0 {
			return fmt.Errorf("demo step %q failed (exit %d)", s.what, code)
		}
	}
	fmt.Fprintf(stdout, "\ndemo: everything is in %s\n", dir)
	return nil
}

// writeHashCheckpoint saves cfg's deterministic hash weights as
// OpenAI-named safetensors.
func writeHashCheckpoint(path string, cfg clip.Config) error {
	sd, err := clip.HashStateDict(cfg)
	if err != nil {
		return err
	}
	out := make(map[string]*ckpt.Tensor, len(sd))
	for k, v := range sd {
		out[k] = &ckpt.Tensor{Shape: v.Shape(), Data: v.Data()}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return ckpt.SaveSafetensors(path, nil, out, map[string]string{"producer": "gocoop demo", "weights": "hash"})
}

// demoClasses are EuroSAT's folders and prompt names, each with a colour.
var demoClasses = []struct {
	folder, name string
	rgb          [3]uint8
}{
	{"AnnualCrop", "Annual Crop Land", [3]uint8{230, 200, 40}},
	{"Forest", "Forest", [3]uint8{20, 120, 30}},
	{"HerbaceousVegetation", "Herbaceous Vegetation Land", [3]uint8{140, 200, 90}},
	{"Highway", "Highway or Road", [3]uint8{120, 120, 120}},
	{"River", "River", [3]uint8{30, 60, 200}},
	{"SeaLake", "Sea or Lake", [3]uint8{10, 20, 90}},
	{"Industrial", "Industrial Buildings", [3]uint8{200, 80, 80}},
	{"Pasture", "Pasture Land", [3]uint8{170, 230, 120}},
	{"PermanentCrop", "Permanent Crop Land", [3]uint8{200, 150, 60}},
	{"Residential", "Residential Buildings", [3]uint8{220, 220, 210}},
}

// writeClassImage writes a size×(size·9/10) image of rgb with a small
// item-dependent texture.
func writeClassImage(path string, size int, rgb [3]uint8, item int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w, h := size, size*9/10
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			d := uint8((x*3 + y*5 + item*7) % 16)
			img.Set(x, y, color.RGBA{rgb[0] ^ d, rgb[1] ^ d, rgb[2] ^ d, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeDemoEuroSAT writes root/eurosat in CoOp's EuroSAT layout (images
// under 2750/<Class>/, split_zhou_EuroSAT.json) with the first nClasses of
// demoClasses and nTrain, nVal, nTest images of the given size per class.
func writeDemoEuroSAT(root string, nClasses, nTrain, nVal, nTest, size int) error {
	dir := filepath.Join(root, "eurosat")
	split := map[string][][]any{}
	for _, s := range []struct {
		name string
		n    int
	}{{"train", nTrain}, {"val", nVal}, {"test", nTest}} {
		entries := [][]any{}
		for c := range nClasses {
			cl := demoClasses[c]
			for i := range s.n {
				rel := fmt.Sprintf("%s/%s_%s_%d.png", cl.folder, cl.folder, s.name, i)
				if err := writeClassImage(filepath.Join(dir, "2750", filepath.FromSlash(rel)), size, cl.rgb, i+len(s.name)); err != nil {
					return err
				}
				entries = append(entries, []any{rel, c, cl.name})
			}
		}
		split[s.name] = entries
	}
	b, err := json.Marshal(split)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "split_zhou_EuroSAT.json"), b, 0o644)
}

// shellJoin quotes args for display.
func shellJoin(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		if a == "" || containsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		s += a
	}
	return s
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, d := range s {
			if c == d {
				return true
			}
		}
	}
	return false
}
