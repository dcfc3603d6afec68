package data

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a small w×h RGB image whose colours depend on v.
func writePNG(t testing.TB, path string, w, h, v int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(v*37 + x*11), uint8(v*91 + y*7), uint8(x * y), 255})
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

// writeFile writes text to path, creating directories.
func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// splitEntries makes split-file entries: per class c (label c, name
// names[c]) n images named by pattern (fmt with class index and item index),
// relative to the image dir.
func splitEntries(names []string, n int, pattern string) [][]any {
	var out [][]any
	for c, name := range names {
		for i := range n {
			out = append(out, []any{fmt.Sprintf(pattern, c, i), c, name})
		}
	}
	return out
}

// writeSplitDataset writes a split JSON and the PNGs it names under
// imageDir; it returns nothing, failing t on error.
func writeSplitDataset(t testing.TB, splitPath, imageDir string, split map[string][][]any) {
	t.Helper()
	b, err := json.Marshal(split)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, splitPath, string(b))
	v := 0
	for _, entries := range split {
		for _, e := range entries {
			writePNG(t, filepath.Join(imageDir, filepath.FromSlash(e[0].(string))), 8, 6, v)
			v++
		}
	}
}

// makePets builds oxford_pets under root with the given classes and
// train/val/test counts per class.
func makePets(t testing.TB, root string, names []string, nTrain, nVal, nTest int) {
	dir := filepath.Join(root, "oxford_pets")
	writeSplitDataset(t, filepath.Join(dir, "split_zhou_OxfordPets.json"), filepath.Join(dir, "images"), map[string][][]any{
		"train": splitEntries(names, nTrain, "c%d_train_%d.png"),
		"val":   splitEntries(names, nVal, "c%d_val_%d.png"),
		"test":  splitEntries(names, nTest, "c%d_test_%d.png"),
	})
}

// classNames returns n names "class_00", "class_01", ...
func classNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("class_%02d", i)
	}
	return out
}

// wantErr fails unless err is non-nil and contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// labelsOf returns the labels of items.
func labelsOf(items []Datum) []int {
	out := make([]int, len(items))
	for i, d := range items {
		out[i] = d.Label
	}
	return out
}

// countByLabel counts items per label.
func countByLabel(items []Datum) map[int]int {
	m := map[int]int{}
	for _, d := range items {
		m[d.Label]++
	}
	return m
}
