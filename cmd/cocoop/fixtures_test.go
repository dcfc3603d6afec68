package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
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
		sd, err := clip.HashStateDict(microConfig)
		if err != nil {
			microErr = err
			return
		}
		out := map[string]*ckpt.Tensor{}
		for k, v := range sd {
			out[k] = &ckpt.Tensor{Shape: v.Shape(), Data: v.ToSlice()}
		}
		microErr = ckpt.SaveSafetensors(filepath.Join(microDir, "micro.safetensors"), nil, out, nil)
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

// euroClasses are EuroSAT folder names and prompt names with a colour.
var euroClasses = []struct {
	folder, name string
	rgb          [3]uint8
}{
	{"AnnualCrop", "Annual Crop Land", [3]uint8{230, 200, 40}},
	{"Forest", "Forest", [3]uint8{20, 120, 30}},
	{"HerbaceousVegetation", "Herbaceous Vegetation Land", [3]uint8{140, 200, 90}},
	{"Highway", "Highway or Road", [3]uint8{120, 120, 120}},
	{"River", "River", [3]uint8{30, 60, 200}},
	{"SeaLake", "Sea or Lake", [3]uint8{10, 20, 90}},
}

// writeClassPNG writes a w×h image of rgb with a small item-dependent
// texture.
func writeClassPNG(t *testing.T, path string, w, h int, rgb [3]uint8, item int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			d := uint8((x*3 + y*5 + item*7) % 16)
			img.Set(x, y, color.RGBA{rgb[0] ^ d, rgb[1] ^ d, rgb[2] ^ d, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// makeEuroSAT writes root/eurosat with nClasses classes and nTrain, nVal,
// nTest images per class; it returns root.
func makeEuroSAT(t *testing.T, nClasses, nTrain, nVal, nTest int) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "eurosat")
	split := map[string][][]any{}
	for _, s := range []struct {
		name string
		n    int
	}{{"train", nTrain}, {"val", nVal}, {"test", nTest}} {
		entries := [][]any{}
		for c := range nClasses {
			cl := euroClasses[c]
			for i := range s.n {
				rel := fmt.Sprintf("%s/%s_%s_%d.png", cl.folder, cl.folder, s.name, i)
				writeClassPNG(t, filepath.Join(dir, "2750", filepath.FromSlash(rel)), 40, 36, cl.rgb, i+len(s.name))
				entries = append(entries, []any{rel, c, cl.name})
			}
		}
		split[s.name] = entries
	}
	writeSplit(t, filepath.Join(dir, "split_zhou_EuroSAT.json"), split)
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
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
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
