package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// The real files are read once for all tests; .ci/run installs Debian's
// package, so they are never skipped.
var fashion = sync.OnceValues(func() (*FashionMNIST, error) { return LoadFashionMNIST("") })

func realFashion(t *testing.T) *FashionMNIST {
	t.Helper()
	fm, err := fashion()
	if err != nil {
		t.Fatalf("%v\n(the Fashion-MNIST tests read the real files: apt-get install dataset-fashion-mnist)", err)
	}
	return fm
}

func TestFashionMNISTRealFiles(t *testing.T) {
	fm := realFashion(t)
	for _, c := range []struct {
		name         string
		s            *FashionSplit
		n            int
		first        []byte
		pixels, labs string // sha256 of the decoded arrays
	}{
		{"train", fm.Train, 60000, []byte{9, 0, 0, 3, 0, 2, 7, 2, 5, 5},
			"2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012", "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"},
		{"test", fm.Test, 10000, []byte{9, 2, 1, 1, 6, 1, 4, 6, 5, 7},
			"c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a", "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"},
	} {
		s := c.s
		if s.N != c.n || s.Rows != 28 || s.Cols != 28 || len(s.Pixels) != c.n*784 || len(s.Labels) != c.n {
			t.Fatalf("%s: %d images of %d×%d", c.name, s.N, s.Rows, s.Cols)
		}
		if !bytes.Equal(s.Labels[:10], c.first) {
			t.Errorf("%s: first labels %v, want %v", c.name, s.Labels[:10], c.first)
		}
		if h := sha256.Sum256(s.Pixels); hex.EncodeToString(h[:]) != c.pixels {
			t.Errorf("%s: pixels hash %x", c.name, h)
		}
		if h := sha256.Sum256(s.Labels); hex.EncodeToString(h[:]) != c.labs {
			t.Errorf("%s: labels hash %x", c.name, h)
		}
		img := s.Image(1)
		if img.Bounds().Dx() != 28 || img.Pix[0] != s.Pixels[784] || len(img.Pix) != 784 {
			t.Errorf("%s: Image(1) does not view the second image", c.name)
		}
	}
}

func TestFashionMNISTExportLoads(t *testing.T) {
	realFashion(t)
	root := t.TempDir()
	dir, err := ExportFashionMNIST(root, FashionMNISTConfig{Train: 3, Val: 1, Test: 4})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Load("fashionmnist", root)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Dir != dir || !slices.Equal(ds.ClassNames, FashionClassNames()) {
		t.Fatalf("loaded %s with classes %q", ds.Dir, ds.ClassNames)
	}
	if len(ds.Train) != 30 || len(ds.Val) != 10 || len(ds.Test) != 40 {
		t.Fatalf("split sizes %d/%d/%d", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	// Train and val are disjoint images of the train file.
	for _, d := range ds.Val {
		if slices.ContainsFunc(ds.Train, func(e Datum) bool { return e.ImPath == d.ImPath }) {
			t.Fatalf("%s in train and val", d.ImPath)
		}
	}
	// Base is labels 0-4, new labels 5-9, as the issue asks.
	base, _ := SubsampleClasses(ds, "base")
	nw, _ := SubsampleClasses(ds, "new")
	want := []string{"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"}
	if !slices.Equal(base.ClassNames, want[:5]) || !slices.Equal(nw.ClassNames, want[5:]) {
		t.Fatalf("base %q new %q", base.ClassNames, nw.ClassNames)
	}
	// The grey PNG of test item 0 (the file's image 0, an ankle boot)
	// decodes to the IDX pixels.
	fm := realFashion(t)
	if d := ds.Test[0]; d.Label != 9 || filepath.Base(d.ImPath) != "00000.png" {
		t.Fatalf("first test item %+v", d)
	}
	img, err := readImage(ds.Test[0].ImPath)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 28 {
		for x := range 28 {
			r, g, b, _ := img.At(x, y).RGBA()
			v := uint32(fm.Test.Pixels[y*28+x])
			if r>>8 != v || g>>8 != v || b>>8 != v {
				t.Fatalf("pixel (%d,%d): %d %d %d, want %d", x, y, r>>8, g>>8, b>>8, v)
			}
		}
	}
	l, err := NewLoader(FewShot(nw, 1, tensor.NewRNG(1)).Train, TestTransform(28), TestConfig(5))
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range l.Epoch(t.Context(), 0) {
		if err != nil || b.Len() != 5 {
			t.Fatalf("batch of %d: %v", b.Len(), err)
		}
	}
}

func TestFashionCaptions(t *testing.T) {
	if len(FashionTemplates) != 16 {
		t.Fatalf("%d templates", len(FashionTemplates))
	}
	for _, d := range []CaptionDesign{CaptionsPlain, CaptionsGap} {
		for l, syn := range FashionSynonyms(d) {
			if len(syn) < 3 || len(syn) > 4 || syn[0] != FashionClassNames()[l] {
				t.Errorf("%v: label %d synonyms %q", d, l, syn)
			}
		}
	}
	rng := tensor.NewRNG(1)
	has := func(d CaptionDesign, label int, word string) bool {
		for range 500 {
			if strings.Contains(FashionCaption(label, d, rng), word) {
				return true
			}
		}
		return false
	}
	// Gap: "coat" and "pullover" describe both classes; "jacket" only coats.
	if !has(CaptionsGap, 2, "coat") || !has(CaptionsGap, 4, "pullover") || has(CaptionsGap, 2, "jacket") {
		t.Error("gap design: pullover/coat not shared, or other synonyms mixed")
	}
	if has(CaptionsPlain, 2, "coat") || has(CaptionsPlain, 4, "pullover") {
		t.Error("plain design mixes pullover and coat")
	}
	// New classes are untouched by the gap.
	for l := 5; l < 10; l++ {
		if !slices.Equal(FashionSynonyms(CaptionsGap)[l], FashionSynonyms(CaptionsPlain)[l]) {
			t.Errorf("label %d differs between designs", l)
		}
	}
	if c := FashionCaption(9, CaptionsPlain, tensor.NewRNG(3)); !strings.HasSuffix(c, ".") || !strings.Contains(c, "boot") && !strings.Contains(c, "bootee") {
		t.Errorf("caption %q", c)
	}
}

// idx builds an IDX file of unsigned bytes.
func idx(dims []int, data []byte) []byte {
	b := []byte{0, 0, 8, byte(len(dims))}
	for _, d := range dims {
		b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(b, data...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	good := idx([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	for _, c := range []struct {
		name string
		data []byte
		want string // "" for success
	}{
		{"good", good, ""},
		{"good.gz", gz(good), ""},
		{"gzip-named-plain.gz", good, ""},
		{"empty", nil, "truncated header"},
		{"magic", []byte{1, 0, 8, 1, 0, 0, 0, 1, 7}, "bad magic number"},
		{"float", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "element type 0x0d"},
		{"nodims", []byte{0, 0, 8, 0}, "zero dimensions"},
		{"shortdims", []byte{0, 0, 8, 3, 0, 0, 0, 2}, "truncated header: 3 dimensions"},
		{"zerodim", idx([]int{2, 0}, nil), "dimension 1 is zero"},
		{"huge", idx([]int{1 << 20, 1 << 20}, nil), "declare more than"},
		{"short", idx([]int{2, 3}, []byte{1, 2, 3}), "need 6 bytes, got 3"},
		{"long", idx([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6, 7}), "longer than dimensions"},
		{"badgz", []byte{0x1f, 0x8b, 0, 0}, "bad gzip stream"},
		{"truncgz", gz(good)[:20], "truncated"},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := ReadIDX(p)
		if c.want == "" {
			if err != nil || !slices.Equal(x.Dims, []int{2, 3}) || !bytes.Equal(x.Data, []byte{1, 2, 3, 4, 5, 6}) {
				t.Errorf("%s: %+v, %v", c.name, x, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.name, err, c.want)
		}
	}
	if _, err := ReadIDX(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadFashionMNISTErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFashionMNIST(dir)
	if !errors.Is(err, ErrFashionMNISTMissing) || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("missing files: %v", err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ims := idx([]int{3, 2, 2}, make([]byte, 12))
	write("train-images-idx3-ubyte.gz", gz(ims))
	write("train-labels-idx1-ubyte", idx([]int{3}, []byte{0, 1, 2}))
	write("t10k-images-idx3-ubyte", ims)
	write("t10k-labels-idx1-ubyte.gz", gz(idx([]int{3}, []byte{9, 8, 7})))
	fm, err := LoadFashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Train.N != 3 || fm.Test.Rows != 2 || fm.Test.Labels[0] != 9 {
		t.Fatalf("%+v %+v", fm.Train, fm.Test)
	}
	for _, c := range []struct {
		file string
		data []byte
		want string
	}{
		{"t10k-labels-idx1-ubyte.gz", idx([]int{3}, []byte{9, 10, 7}), "label 10 at index 1"},
		{"t10k-labels-idx1-ubyte.gz", idx([]int{2}, []byte{9, 1}), "has 2 labels but"},
		{"t10k-labels-idx1-ubyte.gz", idx([]int{3, 1}, []byte{9, 1, 1}), "want 1 (labels)"},
		{"t10k-images-idx3-ubyte", idx([]int{3, 4}, make([]byte, 12)), "want 3 (images, rows, columns)"},
	} {
		old, _ := os.ReadFile(filepath.Join(dir, c.file))
		write(c.file, c.data)
		_, err := LoadFashionMNIST(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %v, want %q", c.file, err, c.want)
		}
		write(c.file, old)
	}
	// Too few train images for the export's counts.
	if _, err := ExportFashionMNIST(t.TempDir(), FashionMNISTConfig{Dir: dir, Train: 1}); err == nil || !strings.Contains(err.Error(), "asked for") {
		t.Errorf("export from a tiny set: %v", err)
	}
}
