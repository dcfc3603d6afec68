package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

func init() {
	register("zeroshot", &command{
		summary: "classify images zero-shot with CLIP and a list of class names",
		usage:   "--weights PATH --classes a,b,c [--template \"a photo of a {}.\"]... [--top K] IMAGE...",
		help: `Zero-shot CLIP: each class name is put into the template ("{}" is replaced
by the name, "_" by a space), encoded by the text tower and L2-normalized; each
image's normalized feature is compared with every class, and the softmax of
exp(logit_scale)·cosine similarity gives the probabilities. With several
--template flags the class features are the renormalized mean over templates
(prompt ensembling).

Prints, for each IMAGE, the top K classes with their probabilities.

Example:
  cocoop zeroshot --weights ViT-B-16.pt --classes cat,dog,car photo1.png photo2.jpg`,
		run: runZeroshot,
	})
}

func runZeroshot(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	weights := fs.String("weights", "", "CLIP checkpoint `path` (required)")
	classes := fs.String("classes", "", "comma-separated class `names` (required)")
	top := fs.Int("top", 5, "how many classes to print per image")
	var templates stringList
	fs.Var(&templates, "template", "prompt `template` with {} for the class name (repeatable; default \"a photo of a {}.\")")
	deviceName := addDeviceFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dev, err := openDevice(*deviceName)
	if err != nil {
		return err
	}
	names := splitClasses(*classes)
	switch {
	case *weights == "":
		return usagef("--weights is required")
	case len(names) == 0:
		return usagef("--classes is required (comma-separated class names)")
	case fs.NArg() == 0:
		return usagef("no IMAGE given")
	case *top < 1:
		return usagef("--top must be at least 1, got %d", *top)
	}
	if err := checkClassNames(names); err != nil {
		return err
	}

	if len(templates) == 0 {
		templates = stringList{"a photo of a {}."}
	}
	for _, t := range templates {
		if !strings.Contains(t, "{}") {
			return usagef("template %q has no {} for the class name", t)
		}
	}
	for _, p := range fs.Args() {
		if err := checkFile("", p); err != nil {
			return err
		}
	}
	model, err := loadModel(*weights, nil, dev, false)
	if err != nil {
		return err
	}
	if _, err := model.To(dev); err != nil {
		return err
	}
	txt, err := classFeatures(model, names, templates)
	if err != nil {
		return err
	}
	paths := fs.Args()
	x, err := loadImages(paths, model.ImageResolution)
	if err != nil {
		return err
	}
	if x, err = toModel(model, x); err != nil {
		return err
	}
	var probs *tensor.Tensor
	autograd.NoGrad(func() {
		logits := model.LogitsPerImage(model.EncodeImage(x), autograd.Constant(txt)) // [N, n_classes]
		probs = tensor.Softmax(logits.Value, -1)
	})
	if probs, err = hostOf(probs); err != nil {
		return err
	}
	k := min(*top, len(names))
	for i, p := range paths {
		row := probs.Index(0, i).ToSlice()
		order := make([]int, len(row))
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		fmt.Fprintf(stdout, "%s\n", p)
		for _, j := range order[:k] {
			fmt.Fprintf(stdout, "  %6.2f%%  %s\n", 100*row[j], names[j])
		}
	}
	return nil
}

// splitClasses splits a comma-separated list, trimming blanks.
func splitClasses(s string) []string {
	var names []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// classFeatures returns the L2-normalized text feature of every class,
// averaged over templates and renormalized: [len(names), EmbedDim].
func classFeatures(model *clip.CLIP, names, templates []string) (*tensor.Tensor, error) {
	var sum *tensor.Tensor
	for _, tpl := range templates {
		prompts := make([]string, len(names))
		for i, n := range names {
			prompts[i] = strings.ReplaceAll(tpl, "{}", strings.ReplaceAll(n, "_", " "))
		}
		ids, err := clip.Tokenize(prompts, model.ContextLength, false)
		if err != nil {
			return nil, err
		}
		var f *tensor.Tensor
		autograd.NoGrad(func() { f = autograd.L2Normalize(model.EncodeText(ids), -1, 1e-12).Value })
		if sum == nil {
			sum = f
		} else {
			sum = tensor.Add(sum, f)
		}
	}
	var out *tensor.Tensor
	autograd.NoGrad(func() { out = autograd.L2Normalize(autograd.Constant(sum), -1, 1e-12).Value })
	return out, nil
}
