package main

import (
	"fmt"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
)

// ClassNames are the 50 classes of the CoCoOp workloads: the 37 Oxford Pets
// breeds and the first 13 Food-101 dishes, as CoOp's datasets spell them
// (underscores become spaces in the prompts). Their prompts "a photo of a
// {name}." are 7–12 tokens up to the EOT.
var ClassNames = []string{
	"abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle",
	"bengal", "birman", "bombay", "boxer", "british_shorthair", "chihuahua", "egyptian_mau",
	"english_cocker_spaniel", "english_setter", "german_shorthaired", "great_pyrenees",
	"havanese", "japanese_chin", "keeshond", "leonberger", "maine_coon", "miniature_pinscher",
	"newfoundland", "persian", "pomeranian", "pug", "ragdoll", "russian_blue", "saint_bernard",
	"samoyed", "scottish_terrier", "shiba_inu", "siamese", "sphynx", "staffordshire_bull_terrier",
	"wheaten_terrier", "yorkshire_terrier",
	"apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad",
	"beignets", "bibimbap", "bread_pudding", "breakfast_burrito", "bruschetta", "caesar_salad",
	"cannoli",
}

// CtxInit is the context initialization of the CoCoOp workloads (n_ctx 4).
const CtxInit = cocoop.DefaultCtxInit

// NCtx is the number of context vectors of CtxInit.
const NCtx = 4

// Prompts returns the CoCoOp prompt texts of names ("a photo of a {name}.")
// and their 77-token rows.
func Prompts(names []string) ([]string, [][]int32, error) {
	texts := make([]string, len(names))
	for i, n := range names {
		texts[i] = CtxInit + " " + cocoop.PromptName(n) + "."
	}
	ids, err := clip.Tokenize(texts, clip.ContextLength, false)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenize class prompts: %w", err)
	}
	return texts, ids, nil
}

// EOTs returns the EOT positions of the class prompts of names.
func EOTs(names []string) ([]int, error) {
	_, ids, err := Prompts(names)
	if err != nil {
		return nil, err
	}
	return clip.EOTPositions(ids), nil
}

// Workload is one benchmarked computation: GoCoOp's side, and the
// PyTorch runs it is compared with.
type Workload struct {
	ID    string // row key, e.g. "train-b1/shortcut"
	Label string // table label
	Group string // flag name selecting it (-tasks)

	GoTask    string // Go worker task ("" = no Go side)
	GoVariant string // Go worker variant
	PyTask    string // bench_torch.py task ("" = no PyTorch side); rows sharing it share the runs
	PyCut     bool   // also run PyTorch with the prompts cut after the longest EOT (--cut)
	NoPyFull  bool   // no official 77-token PyTorch run (too slow to be useful: eval1000)

	Batch    int
	Classes  int                     // class list: 50 (ClassNames) or 1000 (Names1000); 0 for image
	FLOPs    func(eot []int) float64 // of the Go side's computation
	PyFLOPs  func(eot []int) float64 // of PyTorch's official run (nil: FLOPs)
	CutFLOPs func(eot []int) float64 // of PyTorch's cut run
}

// Groups are the -tasks names, in run order.
var Groups = []string{"sgemm", "image", "text", "train", "eval", "eval1000", "train8", "base2new"}

// searched are the groups whose thread settings are searched by default
// (-search); the others run at the setting found best for the same task at
// batch 1, or at -cores.
var searched = []string{"image", "text", "train", "eval", "eval1000"}

// Workloads lists every row except sgemm's (see sgemmShapes) and base2new's
// (b2n.go).
func Workloads() []Workload {
	cfg := clip.ViTB16
	img := func(n int) func([]int) float64 { // GoCoOp's
		return func([]int) float64 { return GoImageForwardFLOPs(cfg, n).Total() }
	}
	pyImg := func(n int) func([]int) float64 {
		return func([]int) float64 { return ImageForwardFLOPs(cfg, n).Total() }
	}
	text77 := func(eot []int) float64 {
		return TextForwardFLOPs(cfg, cfg.ContextLength).scale(float64(len(eot))).Total()
	}
	textCut := func(eot []int) float64 {
		return TextForwardFLOPs(cfg, cutLen(eot)).scale(float64(len(eot))).Total()
	}
	textShared := func(eot []int) float64 { return SharedTextForwardFLOPs(cfg, 1+NCtx, eot).Total() }
	step := func(b int, shortcut, train bool) func([]int) float64 {
		return func(eot []int) float64 { return CoCoOpStepFLOPs(cfg, b, NCtx, eot, shortcut, train).Total() }
	}
	cut := func(b int, train bool) func([]int) float64 {
		return func(eot []int) float64 { return TrimmedCoCoOpStepFLOPs(cfg, b, eot, train).Total() }
	}
	goOff := func(b int, train bool) func([]int) float64 { // GoCoOp's 77-token route: its image tower is the shortcut's
		return func(eot []int) float64 {
			s := CoCoOpStepFLOPs(cfg, b, NCtx, eot, false, train)
			s.Image = GoImageForwardFLOPs(cfg, b)
			return s.Total()
		}
	}
	w := []Workload{
		{ID: "image-b1", Label: "ViT-B/16 image forward, batch 1", Group: "image", GoTask: "image", PyTask: "image", Batch: 1, FLOPs: img(1), PyFLOPs: pyImg(1)},
		{ID: "image-b8", Label: "ViT-B/16 image forward, batch 8", Group: "image", GoTask: "image", PyTask: "image", Batch: 8, FLOPs: img(8), PyFLOPs: pyImg(8)},
		{ID: "text-50/plain", Label: "text tower, 50 prompts × 77 tokens", Group: "text", GoTask: "text", GoVariant: "plain", PyTask: "text", PyCut: true, Classes: 50, Batch: 1, FLOPs: text77, CutFLOPs: textCut},
		{ID: "text-50/shortcut", Label: "text tower, 50 prompts, shortcut (shared prefix, stop at EOT)", Group: "text", GoTask: "text", GoVariant: "shortcut", PyTask: "text", PyCut: true, Classes: 50, Batch: 1, FLOPs: textShared, PyFLOPs: text77, CutFLOPs: textCut},
	}
	for _, s := range []struct {
		group, task, what string
		b, classes        int
		train, off        bool
	}{
		{"train", "train", "CoCoOp training step, batch 1 × 50 classes", 1, 50, true, true},
		{"eval", "eval", "CoCoOp evaluation step, batch 1 × 50 classes", 1, 50, false, true},
		{"eval1000", "eval", "CoCoOp evaluation step, batch 1 × 1000 classes", 1, 1000, false, false},
		{"train8", "train", "CoCoOp training step, batch 8 × 50 classes", 8, 50, true, true},
	} {
		id := fmt.Sprintf("%s-b%d", s.task, s.b)
		if s.classes != 50 {
			id = fmt.Sprintf("%s%d-b%d", s.task, s.classes, s.b)
		}
		w = append(w, Workload{ID: id + "/shortcut", Label: s.what + ", shortcut on", Group: s.group, GoTask: s.task, GoVariant: "shortcut",
			PyTask: s.task, PyCut: true, NoPyFull: !s.off, Batch: s.b, Classes: s.classes,
			FLOPs: step(s.b, true, s.train), PyFLOPs: step(s.b, false, s.train), CutFLOPs: cut(s.b, s.train)})
		if s.off {
			w = append(w, Workload{ID: id + "/off", Label: s.what + ", shortcut off (FullPrompts: 77 tokens)", Group: s.group, GoTask: s.task, GoVariant: "off",
				PyTask: s.task, PyCut: true, Batch: s.b, Classes: s.classes,
				FLOPs: goOff(s.b, s.train), PyFLOPs: step(s.b, false, s.train), CutFLOPs: cut(s.b, s.train)})
		}
	}
	return w
}

// cutLen is the length of prompts cut after the longest EOT: max(eot) + 1.
func cutLen(eot []int) int {
	l := 0
	for _, e := range eot {
		l = max(l, e+1)
	}
	return l
}

// classList returns the class names of a workload's class count.
func classList(n int) []string {
	if n == 1000 {
		return Names1000()
	}
	return ClassNames
}

// sgemmShapes are the matrix products of CLIP ViT-B/16 (M×K×N): the image
// tower's q|k|v, out-proj, MLP up and down at 197 tokens, and text/batched
// shapes, as bench/sgemm.
var sgemmShapes = [][3]int{
	{197, 768, 2304}, {197, 768, 768}, {197, 768, 3072}, {197, 3072, 768},
	{1024, 512, 1536}, {1024, 1024, 1024}, {2048, 2048, 2048},
}

func shapeName(s [3]int) string { return fmt.Sprintf("%d×%d×%d", s[0], s[1], s[2]) }

func groupSet(s string) (map[string]bool, error) {
	set := map[string]bool{}
	if s == "" || s == "all" {
		for _, g := range Groups {
			set[g] = true
		}
		return set, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, g := range Groups {
			ok = ok || g == f
		}
		if !ok {
			return nil, fmt.Errorf("unknown task %q (have %s)", f, strings.Join(Groups, ", "))
		}
		set[f] = true
	}
	return set, nil
}
