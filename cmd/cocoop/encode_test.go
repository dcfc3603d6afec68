package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
)

// tinyConfig is a small CLIP (the clip package's parity config).
var tinyConfig = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 128, VisionHeads: 2,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
}

// writeTinyCheckpoint saves hash weights of tinyConfig as OpenAI-named
// safetensors and returns the path.
func writeTinyCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tiny.safetensors")
	if err := writeHashCheckpoint(path, tinyConfig); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePNG writes a w×h image with a deterministic colour pattern.
func writePNG(t *testing.T, path string, w, h int, seed uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7) + seed, uint8(y*13) ^ seed, uint8(x*y) + 3*seed, 255})
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

func TestEncodeMatchesModel(t *testing.T) {
	dir := t.TempDir()
	weights := writeTinyCheckpoint(t, dir)
	img1, img2 := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, img1, 50, 41, 1)
	writePNG(t, img2, 33, 70, 9)
	out := filepath.Join(dir, "emb.safetensors")
	texts := []string{"a photo of a dog.", "a photo of a cat."}
	code, stdout, stderr := runCmd("encode", "--weights", weights, "--image", img1, "--text", texts[0],
		"--image", img2, "--text", texts[1], "--batch", "1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "image_embeds [2 32]") {
		t.Errorf("stdout %q", stdout)
	}
	sd, _, err := ckpt.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	model, err := clip.Load(weights)
	if err != nil {
		t.Fatal(err)
	}
	x, err := loadImages([]string{img1, img2}, tinyConfig.ImageResolution)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := clip.Tokenize(texts, 77, false)
	var wantImg, wantTxt []float32
	autograd.NoGrad(func() {
		wantImg = model.EncodeImage(x).Value.ToSlice()
		wantTxt = model.EncodeText(ids).Value.ToSlice()
	})
	for name, want := range map[string][]float32{"image_embeds": wantImg, "text_embeds": wantTxt} {
		got := sd.Get(name)
		if got == nil || len(got.Shape) != 2 || got.Shape[0] != 2 || got.Shape[1] != 32 {
			t.Fatalf("%s: %+v", name, got)
		}
		for i := range want {
			// batch 1 vs batch 2 may round differently in the last bit
			if d := got.Data[i] - want[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got.Data[i], want[i])
			}
		}
	}
}

func TestEncodeAndZeroshotErrors(t *testing.T) {
	dir := t.TempDir()
	weights := writeTinyCheckpoint(t, dir)
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	notCkpt := filepath.Join(dir, "x.bin")
	os.WriteFile(notCkpt, []byte("hello world, not a checkpoint"), 0o644)
	out := filepath.Join(dir, "o.safetensors")
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"encode", "--out", out, "--text", "x"}, 2, "--weights is required"},
		{[]string{"encode", "--weights", weights, "--text", "x"}, 2, "--out is required"},
		{[]string{"encode", "--weights", weights, "--out", out}, 2, "nothing to encode"},
		{[]string{"encode", "--weights", filepath.Join(dir, "missing.pt"), "--out", out, "--text", "x"}, 1, "missing.pt"},
		{[]string{"encode", "--weights", notCkpt, "--out", out, "--text", "x"}, 1, "x.bin"},
		{[]string{"encode", "--weights", weights, "--out", out, "--image", bad}, 1, "bad.png"},
		{[]string{"encode", "--weights", weights, "--out", out, "--image", filepath.Join(dir, "nope.png")}, 1, "nope.png"},
		{[]string{"zeroshot", "--weights", weights, "--classes", "cat,dog"}, 2, "no IMAGE given"},
		{[]string{"zeroshot", "--weights", weights, "x.png"}, 2, "--classes is required"},
		{[]string{"zeroshot", "--weights", weights, "--classes", "a", "--template", "photo", "x.png"}, 2, "has no {}"},
	} {
		code, _, stderr := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("%q: exit %d stderr %q; want exit %d containing %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed encode left %s behind", out)
	}
}

func TestZeroshot(t *testing.T) {
	dir := t.TempDir()
	weights := writeTinyCheckpoint(t, dir)
	img := filepath.Join(dir, "a.png")
	writePNG(t, img, 40, 40, 3)
	code, stdout, stderr := runCmd("zeroshot", "--weights", weights, "--classes", "cat, dog ,great_pyrenees",
		"--template", "a photo of a {}.", "--template", "itap of a {}.", "--top", "2", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || lines[0] != img || !strings.Contains(lines[1], "%") {
		t.Fatalf("output %q", stdout)
	}
}
