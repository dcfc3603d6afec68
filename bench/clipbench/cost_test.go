package main

import (
	"math"
	"testing"
	"time"

	"github.com/gocoop/gocoop/clip"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %.2g", what, got, want, tol)
	}
}

func TestCostModel(t *testing.T) {
	cfg := clip.ViTB16
	near(t, "image forward", ImageForwardFLOPs(cfg, 1).Total(), 35.13e9, 0.005e9)
	near(t, "image forward ×8", ImageForwardFLOPs(cfg, 8).Total(), 8*ImageForwardFLOPs(cfg, 1).Total(), 1)
	// GoCoOp's last block: one query instead of 197 after the in-projection.
	d, tok := float64(cfg.VisionWidth), 197.0
	near(t, "class-token-only saving", ImageForwardFLOPs(cfg, 1).Total()-GoImageForwardFLOPs(cfg, 1).Total(), (tok-1)*(18*d*d+4*tok*d), 1)
	near(t, "GoCoOp image forward", GoImageForwardFLOPs(cfg, 1).Total(), 32.93e9, 0.005e9)
	t77 := TextForwardFLOPs(cfg, 77)
	near(t, "text forward, 77 tokens", t77.Total(), 5.96e9, 0.005e9)

	// One prompt without a shared prefix, up to its last position: the same
	// rows as the plain path, but only the causal triangle of attention,
	// and the last block's out-projection and MLP (18·d² a row) for the
	// EOT row alone.
	sh := SharedTextForwardFLOPs(cfg, 0, []int{76})
	tw := float64(cfg.TransformerWidth)
	near(t, "shared linear", sh.Linear, t77.Linear-76*18*tw*tw, 1)
	near(t, "shared attention", sh.Attention, t77.Attention*(77*78/2)/(77*77), 1)

	// Sharing a prefix saves its rows for every prompt but the first (in
	// the last block, their in-projection only: 6·d² a row).
	eot := []int{9, 12, 7}
	a := SharedTextForwardFLOPs(cfg, 0, eot)
	b := SharedTextForwardFLOPs(cfg, 5, eot)
	w := float64(cfg.TransformerWidth)
	near(t, "prefix saving (linear)", a.Linear-b.Linear, 2*5*(24*11+6)*w*w, 1)

	// Training = forward + dX backward: 2× linear, 3× attention.
	eot, err := EOTs(ClassNames)
	if err != nil {
		t.Fatal(err)
	}
	if len(eot) != 50 {
		t.Fatalf("%d classes, want 50", len(eot))
	}
	fwd := CoCoOpStepFLOPs(cfg, 1, NCtx, eot, false, false)
	trn := CoCoOpStepFLOPs(cfg, 1, NCtx, eot, false, true)
	near(t, "plain eval text", fwd.Text.Total(), 50*t77.Total(), 1)
	near(t, "plain train text", trn.Text.Total(), 50*(2*t77.Linear+3*t77.Attention), 1)
	near(t, "train image", trn.Image.Total(), ImageForwardFLOPs(cfg, 1).Total(), 1)
	near(t, "shortcut train image", CoCoOpStepFLOPs(cfg, 1, NCtx, eot, true, true).Image.Total(), GoImageForwardFLOPs(cfg, 1).Total(), 1)
	b8 := CoCoOpStepFLOPs(cfg, 8, NCtx, eot, true, true)
	b1 := CoCoOpStepFLOPs(cfg, 1, NCtx, eot, true, true)
	near(t, "batch 8 = 8× batch 1", b8.Total(), 8*b1.Total(), 1)
	if r := trn.Total() / b1.Total(); r < 5 {
		t.Errorf("shortcut saves only %.1f× on the 50 classes", r)
	}
	if tr := TrimmedCoCoOpStepFLOPs(cfg, 1, eot, true); !(tr.Total() < trn.Total() && tr.Total() > b1.Total()) {
		t.Errorf("trimmed step %.4g not between shortcut %.4g and plain %.4g", tr.Total(), b1.Total(), trn.Total())
	}
}

func TestWorkloads(t *testing.T) {
	eot, _ := EOTs(ClassNames)
	seen := map[string]bool{}
	for _, w := range Workloads() {
		if seen[w.ID] {
			t.Errorf("duplicate workload %s", w.ID)
		}
		seen[w.ID] = true
		if w.FLOPs(eot) <= 0 {
			t.Errorf("%s: no FLOPs", w.ID)
		}
		if w.PyCut && !(w.CutFLOPs != nil && w.CutFLOPs(eot) > 0) {
			t.Errorf("%s: a cut PyTorch run without its FLOPs", w.ID)
		}
	}
	for _, id := range []string{"image-b1", "image-b8", "text-50/plain", "text-50/shortcut", "train-b1/shortcut", "train-b1/off", "eval-b1/shortcut", "eval-b1/off", "eval1000-b1/shortcut", "train-b8/shortcut", "train-b8/off"} {
		if !seen[id] {
			t.Errorf("workload %s missing", id)
		}
	}
	if _, err := groupSet("image,nope"); err == nil {
		t.Error("unknown task accepted")
	}
}

// TestSmokeSgemm runs the Go side of the sgemm workload with a tiny budget.
func TestSmokeSgemm(t *testing.T) {
	res, err := goSgemm(workerArgs{SgemmTime: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Shapes) != len(sgemmShapes) {
		t.Fatalf("%d shapes timed, want %d", len(res.Shapes), len(sgemmShapes))
	}
	for s, v := range res.Shapes {
		if !(v > 0) {
			t.Errorf("%s: time %v", s, v)
		}
	}
}

// TestSmokeWorker runs one tiny Go workload end to end in-process (a
// ViT-B/16 image forward at batch 1: ~1 s of weights, ~0.3 s of forward).
func TestSmokeWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a full ViT-B/16")
	}
	for _, w := range []string{"float16", "float32"} {
		a := workerArgs{Task: "image", Batch: 1, Warmup: 0, Reps: 1, Cores: 2, Weights: w}
		res, err := goModel(a, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Times) != 1 || !(res.Times[0] > 0) {
			t.Fatalf("%s: times %v", w, res.Times)
		}
	}
}

// TestNames1000 pins the synthetic 1,000 class names: distinct, and their
// prompts' EOT positions in the documented range.
func TestNames1000(t *testing.T) {
	names := Names1000()
	if len(names) != 1000 {
		t.Fatalf("%d names", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("duplicate %q", n)
		}
		seen[n] = true
	}
	eot, err := EOTs(names)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, sum := 99, 0, 0
	for _, e := range eot {
		lo, hi, sum = min(lo, e), max(hi, e), sum+e
	}
	t.Logf("EOT positions %d–%d, mean %.2f; prompts %d–%d tokens", lo, hi, float64(sum)/1000, lo+1, hi+1)
	if lo+1 != 8 || hi+1 != 17 {
		t.Errorf("prompts %d–%d tokens up to the EOT, documented 8–17", lo+1, hi+1)
	}
}

// TestCheckLoss: the loss comparison accepts float32 rounding and rejects
// anything larger, against either PyTorch run.
func TestCheckLoss(t *testing.T) {
	rec := func(g, p, c float64) Record {
		return Record{ID: "x", Go: &Measure{Loss: g}, Py: &Measure{Loss: p}, PyCut: &Measure{Loss: c}}
	}
	if e := checkLoss(rec(4.0351210, 4.0351219, 4.0351219)); len(e) != 0 {
		t.Errorf("rounding rejected: %v", e)
	}
	if e := checkLoss(rec(4.0351210, 4.0351219, 4.0361219)); len(e) != 1 {
		t.Errorf("cut run 1e-3 off: %d errors, want 1", len(e))
	}
	if e := checkLoss(rec(4.0351210, 3.9, 4.2)); len(e) != 2 {
		t.Errorf("both off: %d errors, want 2", len(e))
	}
	if e := checkLoss(Record{ID: "x", Go: &Measure{Loss: 4}, PyCut: &Measure{Loss: math.NaN()}}); len(e) != 1 {
		t.Error("NaN accepted")
	}
}
