package data

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// pngItems writes n small PNGs of varying sizes and returns their items
// (label i % 3).
func pngItems(t *testing.T, n int) []Datum {
	dir := t.TempDir()
	items := make([]Datum, n)
	for i := range items {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		writePNG(t, p, 20+i%7, 16+i%5, i)
		items[i] = Datum{ImPath: p, Label: i % 3, ClassName: fmt.Sprint("c", i%3)}
	}
	return items
}

// collect runs one epoch and returns its batches.
func collect(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	var out []*Batch
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

const testSize = 32 // small output size keeps the tests fast

func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	items := pngItems(t, 13)
	run := func(workers, prefetch int) [][]*Batch {
		cfg := TrainConfig(4, 7)
		cfg.Workers, cfg.Prefetch = workers, prefetch
		l, err := NewLoader(items, TrainTransform(testSize), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if l.NumBatches() != 3 {
			t.Fatalf("NumBatches %d, want 3 (13 items, batch 4, drop last)", l.NumBatches())
		}
		return [][]*Batch{collect(t, l, 0), collect(t, l, 1)}
	}
	one := run(1, 1)
	four := run(4, 0)
	if !reflect.DeepEqual(one, four) {
		t.Fatal("1 and 4 workers gave different batches")
	}
	e0, e1 := one[0], one[1]
	if len(e0) != 3 || e0[0].Len() != 4 || len(e0[0].Images) != 4*3*testSize*testSize || e0[0].ImageLen != 3*testSize*testSize {
		t.Fatalf("epoch 0: %d batches, first has %d items, %d values", len(e0), e0[0].Len(), len(e0[0].Images))
	}
	order := func(bs []*Batch) []int {
		var o []int
		for _, b := range bs {
			o = append(o, b.Indices...)
		}
		return o
	}
	o0, o1 := order(e0), order(e1)
	if reflect.DeepEqual(o0, o1) {
		t.Fatal("epochs 0 and 1 have the same order: not reshuffled")
	}
	if slices.Equal(o0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatal("not shuffled")
	}
	// Each batch's content matches its indices, and the item transform is
	// the documented function of (seed, epoch, index).
	b := e1[1]
	for i, idx := range b.Indices {
		if b.Labels[i] != items[idx].Label || b.Paths[i] != items[idx].ImPath {
			t.Fatalf("batch item %d: label/path mismatch", i)
		}
	}
	img, err := clip.LoadImage(items[b.Indices[2]].ImPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := clip.PreprocessTrain(img, testSize, tensor.NewRNG(ItemSeed(7, 1, b.Indices[2])))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Images[2*b.ImageLen:3*b.ImageLen], want) {
		t.Fatal("batch image differs from PreprocessTrain with the item seed")
	}
	// Same seed, same epoch, new loader: same batches.
	if again := run(2, 3); !reflect.DeepEqual(again[1], e1) {
		t.Fatal("rerun differs")
	}
}

func TestLoaderSequentialAndDropLast(t *testing.T) {
	items := pngItems(t, 5)
	l, err := NewLoader(items, TestTransform(testSize), TestConfig(2))
	if err != nil {
		t.Fatal(err)
	}
	bs := collect(t, l, 0)
	if len(bs) != 3 || bs[2].Len() != 1 || !slices.Equal(bs[1].Indices, []int{2, 3}) {
		t.Fatalf("test loader: %d batches", len(bs))
	}
	img, _ := clip.LoadImage(items[4].ImPath)
	want, _ := clip.Preprocess(img, testSize)
	if !slices.Equal(bs[2].Images, want) {
		t.Fatal("test transform differs from clip.Preprocess")
	}
	// Dassl: drop_last only when len(data) >= batch size.
	cfg := TrainConfig(8, 1)
	l, _ = NewLoader(items, TestTransform(testSize), cfg)
	if bs := collect(t, l, 0); len(bs) != 1 || bs[0].Len() != 5 || l.NumBatches() != 1 {
		t.Fatalf("5 items at batch 8 must give one batch of 5, got %d", len(bs))
	}
	cfg.BatchSize = 2
	l, _ = NewLoader(items, TestTransform(testSize), cfg)
	if bs := collect(t, l, 0); len(bs) != 2 {
		t.Fatalf("5 items at batch 2 with drop_last: %d batches", len(bs))
	}
	if _, err := NewLoader(items, TestTransform(testSize), LoaderConfig{}); err == nil {
		t.Fatal("batch size 0 accepted")
	}
}

func TestLoaderUnreadable(t *testing.T) {
	items := pngItems(t, 9)
	bad := items[3].ImPath
	writeFile(t, bad, "\x89PNG\r\n\x1a\nthis is not a png")
	missing := filepath.Join(filepath.Dir(bad), "gone.png")
	items[6].ImPath = missing

	l, _ := NewLoader(items, TestTransform(testSize), TestConfig(2))
	var got []*Batch
	var gotErr error
	for b, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, b)
	}
	wantErr(t, gotErr, bad, "item 3")
	if len(got) != 1 {
		t.Fatalf("%d batches before the error, want 1", len(got))
	}

	for _, w := range []int{1, 3} {
		cfg := TestConfig(2)
		cfg.SkipUnreadable, cfg.Workers = true, w
		l, _ = NewLoader(items, TestTransform(testSize), cfg)
		bs := collect(t, l, 0)
		var idx []int
		for _, b := range bs {
			idx = append(idx, b.Indices...)
		}
		if !slices.Equal(idx, []int{0, 1, 2, 4, 5, 7, 8}) || bs[1].Len() != 2 || len(bs) != 4 {
			t.Fatalf("workers %d: indices %v", w, idx)
		}
		st := l.Stats()
		if st.Skipped != 2 || !slices.Equal(st.FirstSkipped, []string{bad, missing}) || st.FirstError == "" {
			t.Fatalf("stats %+v", st)
		}
	}
}

func TestLoaderEarlyStopAndCancel(t *testing.T) {
	items := pngItems(t, 12)
	before := runtime.NumGoroutine()
	cfg := TestConfig(1)
	cfg.Workers = 4
	l, _ := NewLoader(items, TestTransform(testSize), cfg)
	n := 0
	for _, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := func(p string, r *tensor.RNG) ([]float32, error) {
		time.Sleep(5 * time.Millisecond)
		return []float32{1}, nil
	}
	l, _ = NewLoader(items, slow, cfg)
	var gotErr error
	for _, err := range l.Epoch(ctx, 0) {
		cancel()
		if err != nil {
			gotErr = err
		}
	}
	wantErr(t, gotErr, "context canceled")
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("goroutines leaked: %d before, %d after", before, runtime.NumGoroutine())
}

// TestTransformsConvertFirst: both transforms read images as Dassl does,
// convert("RGB") first and then resize (the pixels of that order are
// checked against Pillow in clip's TestPreprocessPillowParity), which for
// palette, bilevel and alpha files differs from openai/CLIP's order that
// the single-image commands keep.
func TestTransformsConvertFirst(t *testing.T) {
	for _, name := range []string{"p_50x50", "bilevel_120x90", "la_260x230", "rgba_97x311"} {
		path := filepath.Join("..", "..", "clip", "testdata", "preprocess", name+".png")
		img, err := clip.LoadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		rgb, err := clip.ConvertRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := clip.Preprocess(rgb, testSize)
		clipOrder, _ := clip.Preprocess(img, testSize)
		got, err := TestTransform(testSize)(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: TestTransform is not Preprocess(ConvertRGB(image))", name)
		}
		if slices.Equal(got, clipOrder) {
			t.Errorf("%s: TestTransform equals CLIP's resize-then-convert order", name)
		}
		rng := func() *tensor.RNG { return tensor.NewRNG(5) }
		gotTrain, err := TrainTransform(testSize)(path, rng())
		if err != nil {
			t.Fatal(err)
		}
		wantTrain, _ := clip.PreprocessTrain(rgb, testSize, rng())
		if !slices.Equal(gotTrain, wantTrain) {
			t.Errorf("%s: TrainTransform is not PreprocessTrain(ConvertRGB(image))", name)
		}
	}
}

// TestMemoize: a memoized TestTransform gives the loader the same batches
// in every epoch as the plain one, reading each file once while the budget
// lasts and at every epoch past it; a failing path is retried, not kept.
func TestMemoize(t *testing.T) {
	items := pngItems(t, 9)
	items = append(items, Datum{ImPath: filepath.Join(t.TempDir(), "missing.png"), Label: 0})
	imgBytes := int64(4 * 3 * testSize * testSize)
	for _, tc := range []struct {
		name      string
		budget    int64
		wantReads int // over 3 epochs, the 9 readable images
	}{
		{"all kept", 9 * imgBytes, 9},
		{"4 kept", 4*imgBytes + imgBytes/2, 4 + 3*5},
		{"none kept", 0, 3 * 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			reads := map[string]int{}
			counting := func(path string, rng *tensor.RNG) ([]float32, error) {
				mu.Lock()
				reads[path]++
				mu.Unlock()
				return TestTransform(testSize)(path, rng)
			}
			cfg := LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 3, Workers: 3, SkipUnreadable: true}
			plain, err := NewLoader(items, TestTransform(testSize), cfg)
			if err != nil {
				t.Fatal(err)
			}
			memo, err := NewLoader(items, Memoize(counting, tc.budget), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for epoch := range 3 {
				if got, want := collect(t, memo, epoch), collect(t, plain, epoch); !reflect.DeepEqual(got, want) {
					t.Fatalf("epoch %d: memoized batches differ from the plain loader's", epoch)
				}
			}
			total := 0
			for p, n := range reads {
				if p != items[9].ImPath {
					total += n
				}
			}
			if total != tc.wantReads || reads[items[9].ImPath] != 3 {
				t.Errorf("%d reads of the readable images, want %d; %d of the missing one, want 3 (one per epoch)", total, tc.wantReads, reads[items[9].ImPath])
			}
		})
	}
}
