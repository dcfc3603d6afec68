package data

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// Golden values printed by CPython 3.11:
//
//	random.seed(1); random.random()                  # 0.13436424411240122
//	random.seed(1)
//	random.sample(range(40), 16)   # pool method
//	random.sample(range(100), 16)  # set method
//	random.sample(range(10), 4); random.sample(range(3), 3); random.random()
//	random.seed(2**40+5); getrandbits(32), getrandbits(64), getrandbits(7)
//	random.seed(0); random.sample(range(1000), 16)
func TestPyRandomMatchesCPython(t *testing.T) {
	if got := NewPyRandom(1).Float64(); got != 0.13436424411240122 {
		t.Fatalf("seed 1 random() = %v", got)
	}
	r := NewPyRandom(1)
	want := [][]int{
		{8, 36, 4, 16, 7, 31, 28, 30, 24, 25, 6, 3, 15, 0, 12, 13},
		{77, 97, 98, 0, 89, 57, 34, 92, 29, 75, 13, 40, 3, 2, 83, 69},
		{0, 6, 3, 7},
		{2, 0, 1},
	}
	for i, n := range []int{40, 100, 10, 3} {
		if got := pySample(n, len(want[i]), r); !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("sample(range(%d), %d) = %v, want %v", n, len(want[i]), got, want[i])
		}
	}
	if got := r.Float64(); got != 0.7637009951314895 {
		t.Fatalf("random() after samples = %v", got)
	}
	r = NewPyRandom(1<<40 + 5)
	if a, b, c := r.Getrandbits(32), r.Getrandbits(64), r.Getrandbits(7); a != 2166296868 || b != 4954877310874744636 || c != 84 {
		t.Fatalf("getrandbits = %d %d %d", a, b, c)
	}
	want0 := []int{864, 394, 776, 911, 430, 41, 265, 988, 523, 497, 414, 940, 802, 849, 310, 991}
	if got := pySample(1000, 16, NewPyRandom(0)); !reflect.DeepEqual(got, want0) {
		t.Fatalf("seed 0 sample = %v", got)
	}
}

// items makes per-class counts of items, classes interleaved so that the
// order of first appearance (2, 0, 1, ...) differs from label order.
func fewShotItems(counts map[int]int, order []int) []Datum {
	var out []Datum
	for i := 0; ; i++ {
		added := false
		for _, l := range order {
			if i < counts[l] {
				out = append(out, Datum{ImPath: fmt.Sprintf("c%d/%03d.jpg", l, i), Label: l, ClassName: fmt.Sprint("c", l)})
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func TestSampleFewShot(t *testing.T) {
	items := fewShotItems(map[int]int{0: 30, 1: 10, 2: 120}, []int{2, 0, 1})
	a := SampleFewShot(items, 16, tensor.NewRNG(1))
	b := SampleFewShot(items, 16, tensor.NewRNG(1))
	c := SampleFewShot(items, 16, tensor.NewRNG(2))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different subsets")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 1 and 2 gave the same subset")
	}
	if got := countByLabel(a); !reflect.DeepEqual(got, map[int]int{0: 16, 1: 10, 2: 16}) {
		t.Fatalf("counts %v", got)
	}
	// Groups come in order of first appearance; a short class keeps its
	// list order.
	if a[0].Label != 2 || a[16].Label != 0 || a[32].Label != 1 || a[32].ImPath != "c1/000.jpg" || a[41].ImPath != "c1/009.jpg" {
		t.Fatalf("order: %v", labelsOf(a))
	}
	seen := map[string]bool{}
	for _, d := range a {
		if seen[d.ImPath] {
			t.Fatalf("%s sampled twice", d.ImPath)
		}
		seen[d.ImPath] = true
	}
	if got := SampleFewShot(items, 0, tensor.NewRNG(1)); len(got) != len(items) {
		t.Fatal("k = 0 must keep everything")
	}

	// With PyRandom the groups are CPython's random.sample draws, one
	// generator across groups: label 2 (120 items, set method) then label 0
	// (30 items, pool method).
	p := SampleFewShot(items, 16, NewPyRandom(1))
	r := NewPyRandom(1)
	j2 := pySample(120, 16, r)
	j0 := pySample(30, 16, r)
	for i := range 16 {
		if p[i].ImPath != fmt.Sprintf("c2/%03d.jpg", j2[i]) || p[16+i].ImPath != fmt.Sprintf("c0/%03d.jpg", j0[i]) {
			t.Fatalf("PyRandom subset %d: %v / %v", i, p[i], p[16+i])
		}
	}
}

func TestFewShotDatasetAndSubsetFile(t *testing.T) {
	root := t.TempDir()
	makePets(t, root, classNames(5), 20, 6, 2)
	ds, err := Load("OxfordPets", root)
	if err != nil {
		t.Fatal(err)
	}
	fs := FewShot(ds, 16, tensor.NewRNG(3))
	if len(fs.Train) != 80 || len(fs.Val) != 20 || len(fs.Test) != 10 {
		t.Fatalf("sizes %d/%d/%d", len(fs.Train), len(fs.Val), len(fs.Test))
	}
	if len(ds.Train) != 100 {
		t.Fatal("FewShot modified its input")
	}
	// Train is drawn before val from the same generator.
	r := tensor.NewRNG(3)
	tr := SampleFewShot(ds.Train, 16, r)
	va := SampleFewShot(ds.Val, 4, r)
	if !reflect.DeepEqual(tr, fs.Train) || !reflect.DeepEqual(va, fs.Val) {
		t.Fatal("FewShot differs from SampleFewShot(train) then SampleFewShot(val)")
	}

	// Round trip through a subset file.
	sub := filepath.Join(t.TempDir(), "shot_16-seed_3.json")
	if err := SaveFewShotSubset(fs, sub); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFewShotSubset(ds, sub)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Train, fs.Train) || !reflect.DeepEqual(back.Val, fs.Val) {
		t.Fatal("subset round trip differs")
	}

	// Dassl-style absolute paths from another machine, and plain paths.
	foreign := `{"train": [["/home/u/DATA/oxford_pets/images/c1_train_3.png", 1, "class_01"], "images/c0_train_0.png"]}`
	writeFile(t, sub, foreign)
	back, err = LoadFewShotSubset(ds, sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Train) != 2 || back.Train[0].ImPath != filepath.Join(root, "oxford_pets", "images", "c1_train_3.png") || len(back.Val) != 30 {
		t.Fatalf("foreign subset: %+v, %d val", back.Train, len(back.Val))
	}

	writeFile(t, sub, `{"train": ["images/nope.png"]}`)
	_, err = LoadFewShotSubset(ds, sub)
	wantErr(t, err, sub, "train[0]", "images/nope.png")
	writeFile(t, sub, `{"train": [["images/c1_train_3.png", 2, "class_02"]]}`)
	_, err = LoadFewShotSubset(ds, sub)
	wantErr(t, err, "train[0]", "label 1")
	os.Remove(sub)
	_, err = LoadFewShotSubset(ds, sub)
	wantErr(t, err, sub, "does not exist")
}

func TestSubsampleClasses(t *testing.T) {
	names := classNames(37)
	var train, test []Datum
	for _, l := range []int{36, 5, 0, 18, 19} { // unordered first appearance
		train = append(train, Datum{ImPath: fmt.Sprint(l), Label: l, ClassName: names[l]})
	}
	for l := range 37 {
		train = append(train, Datum{ImPath: fmt.Sprint("t", l), Label: l, ClassName: names[l]})
		test = append(test, Datum{ImPath: fmt.Sprint("x", l), Label: l, ClassName: names[l]})
	}
	ds := &Dataset{Name: "OxfordPets", Train: train, Val: test[:3], Test: test, ClassNames: names}

	base, err := SubsampleClasses(ds, "base")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := SubsampleClasses(ds, "new")
	if err != nil {
		t.Fatal(err)
	}
	if base.NumClasses() != 19 || nw.NumClasses() != 18 || len(base.Test) != 19 || len(nw.Test) != 18 {
		t.Fatalf("base %d/%d new %d/%d", base.NumClasses(), len(base.Test), nw.NumClasses(), len(nw.Test))
	}
	if !reflect.DeepEqual(base.ClassNames, names[:19]) || !reflect.DeepEqual(nw.ClassNames, names[19:]) {
		t.Fatalf("names %v / %v", base.ClassNames, nw.ClassNames)
	}
	// Relabelled 0..k-1 in original-label order; item order kept.
	if got := labelsOf(nw.Train[:2]); !reflect.DeepEqual(got, []int{17, 0}) {
		t.Fatalf("new train labels %v (from 36, 19)", got)
	}
	if d := nw.Test[0]; d.Label != 0 || d.ClassName != names[19] {
		t.Fatalf("new test[0] = %+v", d)
	}
	for _, d := range append(append([]Datum{}, base.Train...), base.Test...) {
		if d.ClassName != base.ClassNames[d.Label] {
			t.Fatalf("%+v inconsistent with class names", d)
		}
	}
	if len(base.Val) != 3 || len(nw.Val) != 0 {
		t.Fatalf("val %d/%d", len(base.Val), len(nw.Val))
	}
	if ds.Train[0].Label != 36 {
		t.Fatal("input modified")
	}
	all, _ := SubsampleClasses(ds, "all")
	if all.NumClasses() != 37 || len(all.Test) != 37 {
		t.Fatal("all must keep everything")
	}
	_, err = SubsampleClasses(ds, "novel")
	wantErr(t, err, `"novel"`, "base")
}
