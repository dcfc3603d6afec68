package main

import (
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/cocoop/data/datatest"
)

// Fixtures of the train/eval/base2new/inspect tests: a very small CLIP
// (the real vocabulary and context, so the real tokenizer works) and a
// small EuroSAT in CoOp's layout whose classes differ by colour.

// microConfig is the smallest CLIP the commands accept: one block per
// tower, width 64 (one head, as OpenAI's build_model infers width/64).
var microConfig = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 1, VisionWidth: 64, VisionHeads: 1,
	VisionPatchSize: 16, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 1,
}

var (
	microOnce sync.Once
	microDir  string
	microErr  error
)

// microWeights writes microConfig's hash weights once per test binary and
// returns the path.
func microWeights(t *testing.T) string {
	t.Helper()
	microOnce.Do(func() {
		microDir, microErr = os.MkdirTemp("", "cocoop-cmd-test")
		if microErr != nil {
			return
		}
		microErr = writeHashCheckpoint(filepath.Join(microDir, "micro.safetensors"), microConfig)
	})
	if microErr != nil {
		t.Fatal(microErr)
	}
	return filepath.Join(microDir, "micro.safetensors")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if microDir != "" {
		os.RemoveAll(microDir)
	}
	os.Exit(code)
}

// writeClassPNG writes a size-wide image of rgb (classImage).
func writeClassPNG(t *testing.T, path string, size int, rgb [3]uint8, item int) {
	t.Helper()
	if err := datatest.WritePNG(path, classImage(size, rgb, item)); err != nil {
		t.Fatal(err)
	}
}

// makeEuroSAT writes root/eurosat with nClasses classes and nTrain, nVal,
// nTest images per class; it returns root.
func makeEuroSAT(t *testing.T, nClasses, nTrain, nVal, nTest int) string {
	t.Helper()
	root := t.TempDir()
	if err := writeDemoEuroSAT(root, nClasses, nTrain, nVal, nTest, 40); err != nil {
		t.Fatal(err)
	}
	return root
}

func writeSplit(t *testing.T, path string, split map[string][][]any) {
	t.Helper()
	b, err := json.Marshal(split)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readJSON decodes a JSON file into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := readJSONFile(path, v); err != nil {
		t.Fatal(err)
	}
}

// mustRun runs the command line and fails unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
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

// euroClasses are EuroSAT's folders and prompt names, each with a colour.
var euroClasses = []datatest.Class{
	{Folder: "AnnualCrop", Name: "Annual Crop Land", RGB: [3]uint8{230, 200, 40}},
	{Folder: "Forest", Name: "Forest", RGB: [3]uint8{20, 120, 30}},
	{Folder: "HerbaceousVegetation", Name: "Herbaceous Vegetation Land", RGB: [3]uint8{140, 200, 90}},
	{Folder: "Highway", Name: "Highway or Road", RGB: [3]uint8{120, 120, 120}},
	{Folder: "River", Name: "River", RGB: [3]uint8{30, 60, 200}},
	{Folder: "SeaLake", Name: "Sea or Lake", RGB: [3]uint8{10, 20, 90}},
	{Folder: "Industrial", Name: "Industrial Buildings", RGB: [3]uint8{200, 80, 80}},
	{Folder: "Pasture", Name: "Pasture Land", RGB: [3]uint8{170, 230, 120}},
	{Folder: "PermanentCrop", Name: "Permanent Crop Land", RGB: [3]uint8{200, 150, 60}},
	{Folder: "Residential", Name: "Residential Buildings", RGB: [3]uint8{220, 220, 210}},
}

// classImage is a size×(size·9/10) image of rgb with a small
// item-dependent texture.
func classImage(size int, rgb [3]uint8, item int) image.Image {
	w, h := size, size*9/10
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			d := uint8((x*3 + y*5 + item*7) % 16)
			img.Set(x, y, color.RGBA{rgb[0] ^ d, rgb[1] ^ d, rgb[2] ^ d, 255})
		}
	}
	return img
}

// writeDemoEuroSAT writes root/eurosat in CoOp's EuroSAT layout with the
// first nClasses of euroClasses and nTrain, nVal, nTest images of the given
// size per class.
func writeDemoEuroSAT(root string, nClasses, nTrain, nVal, nTest, size int) error {
	return datatest.WriteEuroSAT(root, euroClasses[:nClasses], datatest.Counts{Train: nTrain, Val: nVal, Test: nTest},
		func(c datatest.Class, split string, i int) image.Image { return classImage(size, c.RGB, i+len(split)) })
}
