package data

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// smallWorld is a world small enough to export in a test.
var smallWorld = WorldConfig{Seed: 7, Train: 3, Val: 1, Test: 2}

// treeHash hashes every file under dir (relative path and content, in
// sorted order).
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestWorldExportDeterministic(t *testing.T) {
	a, err := ExportWorld(t.TempDir(), smallWorld)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ExportWorld(t.TempDir(), smallWorld)
	if err != nil {
		t.Fatal(err)
	}
	if ha, hb := treeHash(t, a), treeHash(t, b); ha != hb {
		t.Fatalf("same seed, different exports: %s vs %s", ha, hb)
	}
	other := smallWorld
	other.Seed++
	c, err := ExportWorld(t.TempDir(), other)
	if err != nil {
		t.Fatal(err)
	}
	if treeHash(t, a) == treeHash(t, c) {
		t.Fatal("seeds 7 and 8 gave the same export")
	}
}

// TestWorldGolden pins pixels and captions: a change to the renderer, the
// caption grammar or the random streams shows up here (bump worldFormat
// then, so that cached exports are remade).
func TestWorldGolden(t *testing.T) {
	w, err := NewWorld(WorldConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for i := range 6 {
		img, c := w.Pair(i)
		h.Write(img.Pix)
		fmt.Fprintln(h, c)
	}
	for _, l := range []int{0, 6, 7, 15} {
		img, s, err := w.Downstream("test", l, 3)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(img.Pix)
		fmt.Fprintf(h, "%+v\n", s)
	}
	const want = "ca1d45de6ef2b9156e5078c54c57fa361b54f177b4ea543d57ef14ed49afdaa1"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		img, c := w.Pair(0)
		t.Fatalf("golden hash %s, want %s (pair 0: %q, first pixels % x)", got, want, c, img.Pix[:8])
	}
	_, c := w.Pair(0)
	if c != "an image of one large star that is blue on the right." {
		t.Fatalf("pair 0 caption %q", c)
	}
}

func TestWorldExportLoads(t *testing.T) {
	root := t.TempDir()
	dir, err := ExportWorld(root, smallWorld)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(root, WorldDir) {
		t.Fatalf("dataset dir %s", dir)
	}
	for _, r := range []string{root, dir} { // the root, or the dataset folder itself
		ds, err := Load("world", r)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Name != WorldName || !slices.Equal(ds.ClassNames, WorldClassNames()) {
			t.Fatalf("loaded %s with classes %q", ds.Name, ds.ClassNames)
		}
		if len(ds.Train) != 16*3 || len(ds.Val) != 16 || len(ds.Test) != 16*2 {
			t.Fatalf("split sizes %d/%d/%d", len(ds.Train), len(ds.Val), len(ds.Test))
		}
	}
	ds, _ := Load("World", root)
	base, err := SubsampleClasses(ds, "base")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := SubsampleClasses(ds, "new")
	if err != nil {
		t.Fatal(err)
	}
	names := WorldClassNames()
	if !slices.Equal(base.ClassNames, names[:8]) || !slices.Equal(nw.ClassNames, names[8:]) {
		t.Fatalf("base %q new %q", base.ClassNames, nw.ClassNames)
	}
	// New classes are combinations no base class has; their colours and
	// shapes each appear in some base class; the gap colours are base only.
	colours, shapes := map[string]bool{}, map[string]bool{}
	for _, n := range base.ClassNames {
		c, s, _ := strings.Cut(n, " ")
		colours[c], shapes[s] = true, true
	}
	for _, n := range nw.ClassNames {
		c, s, _ := strings.Cut(n, " ")
		if slices.Contains(base.ClassNames, n) || !colours[c] || !shapes[s] || c == "pink" || c == "purple" {
			t.Errorf("new class %q: not a fresh combination of base colours and shapes, or shares the gap", n)
		}
	}
	// The real loader decodes the PNGs.
	fs := FewShot(base, 2, tensor.NewRNG(1))
	l, err := NewLoader(fs.Train, TestTransform(32), TestConfig(4))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for b, err := range l.Epoch(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if b.ImageLen != 3*32*32 {
			t.Fatalf("image length %d", b.ImageLen)
		}
		n += b.Len()
	}
	if n != 16 {
		t.Fatalf("loaded %d items, want 8 classes × 2 shots", n)
	}
}

func TestWorldExportReuseAndReplace(t *testing.T) {
	root := t.TempDir()
	dir, err := ExportWorld(root, smallWorld)
	if err != nil {
		t.Fatal(err)
	}
	split := filepath.Join(dir, WorldSplitFile)
	st1, _ := os.Stat(split)
	if _, err := ExportWorld(root, smallWorld); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(split)
	if !os.SameFile(st1, st2) {
		t.Fatal("an identical export was redone")
	}
	bigger := smallWorld
	bigger.Test = 3
	if _, err := ExportWorld(root, bigger); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(WorldName, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Test) != 16*3 {
		t.Fatalf("replaced export has %d test items", len(ds.Test))
	}
	// A directory that is not an export is left alone.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, WorldDir, "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportWorld(other, smallWorld); err == nil || !strings.Contains(err.Error(), "not an earlier export") {
		t.Fatalf("export over a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, WorldDir, "mine")); err != nil {
		t.Fatal("the foreign directory was touched")
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != WorldDir {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("root holds %q, want only %s", names, WorldDir)
	}
}

func TestWorldScenesVisible(t *testing.T) {
	w, _ := NewWorld(WorldConfig{Seed: 3})
	for l := range WorldClassNames() {
		for i := range 10 {
			img, s, err := w.Downstream("train", l, i)
			if err != nil {
				t.Fatal(err)
			}
			bg := worldBgRGB[s.Background]
			far := 0
			for p := 0; p < len(img.Pix); p += 4 {
				d := 0
				for k := range 3 {
					d += abs(int(img.Pix[p+k]) - bg[k])
				}
				if d > 90 {
					far++
				}
			}
			// The smallest scene, one small cross, covers about 4% of the image.
			if frac := float64(far) / float64(len(img.Pix)/4); frac < 0.03 || frac > 0.7 {
				t.Errorf("class %d image %d (%+v): %.2f of the pixels differ from the background", l, i, s, frac)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestWorldCaptions(t *testing.T) {
	count := func(design CaptionDesign, colour int, word string) int {
		w, _ := NewWorld(WorldConfig{Seed: 5, Captions: design})
		rng := tensor.NewRNG(9)
		n := 0
		for range 2000 {
			c := w.Caption(Scene{Shape: 3, Colour: colour, Count: 1}, rng)
			if !strings.Contains(c, "star") {
				t.Fatalf("caption %q does not name the shape", c)
			}
			if strings.Contains(c, word) {
				n++
			}
		}
		return n
	}
	// Gap: "purple" describes pink objects as often as purple ones; plain:
	// never.
	if n := count(CaptionsPlain, worldGapA, "purple"); n != 0 {
		t.Fatalf("plain captions call pink %d times purple", n)
	}
	nPink, nPurple := count(CaptionsGap, worldGapA, "purple"), count(CaptionsGap, worldGapB, "purple")
	if nPink < 300 || nPurple < 300 || abs(nPink-nPurple) > 150 {
		t.Fatalf("gap captions say purple %d times for pink, %d for purple", nPink, nPurple)
	}
	if count(CaptionsGap, worldGapB, "violet") == 0 || count(CaptionsGap, worldGapA, "violet") != 0 {
		t.Fatal("gap: the other synonyms must stay apart")
	}
	// Other colours are untouched by the design.
	if a, b := count(CaptionsGap, 0, "red"), count(CaptionsPlain, 0, "red"); a != b {
		t.Fatalf("red named %d times under gap, %d under plain", a, b)
	}
	// Pairs are reproducible and varied.
	w, _ := NewWorld(WorldConfig{Seed: 5})
	seen := map[string]bool{}
	for img, c := range w.Pairs(0, 200) {
		if img.Rect.Dx() != 32 {
			t.Fatalf("image size %v", img.Rect)
		}
		seen[c] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct captions in 200 pairs", len(seen))
	}
	_, c1 := w.Pair(123)
	_, c2 := w.Pair(123)
	if c1 != c2 {
		t.Fatalf("pair 123: %q then %q", c1, c2)
	}
}

func TestWorldConfigErrors(t *testing.T) {
	for _, c := range []WorldConfig{{ImageSize: 8}, {Train: -1}, {Captions: 7}} {
		if _, err := NewWorld(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	w, _ := NewWorld(WorldConfig{})
	if _, _, err := w.Downstream("dev", 0, 0); err == nil || !strings.Contains(err.Error(), "dev") {
		t.Errorf("unknown split: %v", err)
	}
	if _, _, err := w.Downstream("test", 16, 0); err == nil {
		t.Error("label 16: no error")
	}
	for s, want := range map[string]CaptionDesign{"gap": CaptionsGap, "Plain": CaptionsPlain} {
		if d, err := ParseCaptionDesign(s); err != nil || d != want || !strings.EqualFold(d.String(), s) {
			t.Errorf("ParseCaptionDesign(%q) = %v, %v", s, d, err)
		}
	}
	if _, err := ParseCaptionDesign("names"); err == nil {
		t.Error("ParseCaptionDesign(names): no error")
	}
}

func TestWriteSplitRoundTrip(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "images")
	sp := &Split{
		Train: []Datum{{filepath.Join(prefix, "a", "1.png"), 0, "cat"}, {filepath.Join(prefix, "b", "2.png"), 1, "dog \"x\""}},
		Val:   []Datum{{filepath.Join(prefix, "a", "3.png"), 0, "cat"}},
	}
	p := filepath.Join(dir, "split.json")
	if err := WriteSplit(p, sp, prefix); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSplit(p, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Train, sp.Train) || !slices.Equal(got.Val, sp.Val) || len(got.Test) != 0 || !slices.Equal(got.ClassNames, []string{"cat", "dog \"x\""}) {
		t.Fatalf("round trip: %+v", got)
	}
	sp.Test = []Datum{{"/elsewhere/x.png", 0, "cat"}}
	if err := WriteSplit(p, sp, prefix); err == nil || !strings.Contains(err.Error(), "/elsewhere/x.png") {
		t.Fatalf("path outside the prefix: %v", err)
	}
}
