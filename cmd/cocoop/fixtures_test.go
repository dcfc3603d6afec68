package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gocoop/gocoop/clip"
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

// euroClasses are the demo's EuroSAT classes (folder, prompt name, colour).
var euroClasses = demoClasses

// writeClassPNG writes a size-wide image of rgb (see the demo's writer).
func writeClassPNG(t *testing.T, path string, size int, rgb [3]uint8, item int) {
	t.Helper()
	if err := writeClassImage(path, size, rgb, item); err != nil {
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
