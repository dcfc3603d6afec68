package optim

import (
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// adamwFixture is testdata/adamw_torch.json, written by adamw_torch.py.
type adamwFixture struct {
	MaxNorm float64    `json:"max_norm"`
	Betas   [2]float32 `json:"betas"`
	Eps     float32    `json:"eps"`
	WD      float32    `json:"wd"`
	Steps   []struct {
		LR        float32     `json:"lr"`
		GradW     [][]float32 `json:"grad_w"`
		GradB     []float32   `json:"grad_b"`
		Norm      float64     `json:"norm"`
		W         []float64   `json:"w"`
		B         []float64   `json:"b"`
		ExpAvgW   []float64   `json:"exp_avg_w"`
		ExpAvgSqB []float64   `json:"exp_avg_sq_b"`
	} `json:"steps"`
}

// Four steps of torch.optim.AdamW with two groups (decay 0.1 and none), a
// changing learning rate and clip_grad_norm_ before each step, against
// PyTorch 1.13.
func TestAdamWMatchesTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/adamw_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx adamwFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	w := autograd.Param(tensor.FromSlice([]float32{0.5, -1, 2, 0.25, 3, -0.75}, 2, 3))
	b := autograd.Param(tensor.FromSlice([]float32{0.1, -0.2}, 2))
	skip := autograd.Param(tensor.FromSlice([]float32{1}, 1))
	opt := NewAdamW([]Group{
		{Params: []nn.NamedParam{np("w", w)}, WeightDecay: fx.WD},
		{Params: []nn.NamedParam{np("b", b), np("skip", skip)}},
	}, 0)
	opt.Beta1, opt.Beta2, opt.Eps = fx.Betas[0], fx.Betas[1], fx.Eps
	for s, st := range fx.Steps {
		opt.LR = st.LR
		opt.ZeroGrad()
		w.Grad = tensor.FromSlice(append(append([]float32{}, st.GradW[0]...), st.GradW[1]...), 2, 3)
		b.Grad = tensor.FromSlice(append([]float32{}, st.GradB...), 2)
		norm := ClipGradNorm(opt.Params(), fx.MaxNorm)
		if math.Abs(norm-st.Norm) > 1e-6*st.Norm {
			t.Errorf("step %d: norm %.9g, torch %.9g", s, norm, st.Norm)
		}
		opt.Step()
		near(t, "w", w.Value, st.W, 2e-7)
		near(t, "b", b.Value, st.B, 2e-7)
		near(t, "exp_avg w", opt.m["w"], st.ExpAvgW, 1e-7)
		near(t, "exp_avg_sq b", opt.v["b"], st.ExpAvgSqB, 5e-7) // clipped g differs from torch's in the last bit
	}
	if skip.Value.At(0) != 1 || opt.Steps() != len(fx.Steps) {
		t.Errorf("grad-less parameter %g, steps %d", skip.Value.At(0), opt.Steps())
	}
	if _, ok := opt.State().ExpAvg["skip"]; ok {
		t.Error("state for a parameter never stepped")
	}
}

// One step by hand: β = (0.9, 0.999), lr 0.1, wd 0.5, g = 2, p = 1:
// p·(1 − 0.05) = 0.95; m = 0.2, v = 0.004; m̂ = 2, v̂ = 4; p = 0.95 − 0.1·2/(2 + 1e-8).
func TestAdamWFirstStepByHand(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{1}, 1))
	opt := NewAdamW([]Group{{Params: []nn.NamedParam{np("p", p)}, WeightDecay: 0.5}}, 0.1)
	p.Grad = tensor.FromSlice([]float32{2}, 1)
	opt.Step()
	near(t, "p", p.Value, []float64{0.85}, 1e-7)
}

// Export after two steps, import into a fresh optimizer: the third step
// matches the uninterrupted run exactly; bad states are reported by key.
func TestAdamWStateResume(t *testing.T) {
	opt2, st := checkResume(t, func() (*autograd.Var, *AdamW) {
		p := autograd.Param(tensor.FromSlice([]float32{1, -2, 0.5}, 3))
		return p, NewAdamW([]Group{{Params: []nn.NamedParam{np("x", p)}, WeightDecay: 0.1}}, 1e-2)
	})

	st.ExpAvg["x"] = tensor.Zeros(4)
	st.ExpAvg["nope"] = tensor.Zeros(1)
	err := opt2.LoadState(st)
	if err == nil || !strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "[4]") ||
		!strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bad state: err = %v", err)
	}
}

func TestClipGradNormBelowMax(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{0, 0}, 2))
	p.Grad = tensor.FromSlice([]float32{3, 4}, 2)
	if n := ClipGradNorm([]nn.NamedParam{np("p", p)}, 10); n != 5 {
		t.Errorf("norm %g, want 5", n)
	}
	near(t, "unclipped", p.Grad, []float64{3, 4}, 0)
	ClipGradNorm([]nn.NamedParam{np("p", p)}, 1)
	near(t, "clipped", p.Grad, []float64{0.6, 0.8}, 1e-6)
}

// sumSquaresHost against the naive float64 sum, on lengths around its
// blocks and its eight running sums, and the same bits at 1, 2, 3 and 7
// cores.
func TestSumSquaresHost(t *testing.T) {
	rng := tensor.NewRNG(7)
	for _, n := range []int{0, 1, 7, 8, 9, sqBlock - 1, sqBlock, sqBlock + 13, 5*sqBlock + 3} {
		x := rng.Normal(0, 3, max(n, 1)).ToSlice()[:n]
		var want float64
		for _, v := range x {
			want += float64(v) * float64(v)
		}
		got := sumSquaresHost(x)
		if math.Abs(got-want) > 1e-12*want {
			t.Errorf("n=%d: %v, naive sum %v", n, got, want)
		}
		for _, procs := range []int{1, 2, 3, 7} {
			prev := runtime.GOMAXPROCS(procs)
			other := sumSquaresHost(x)
			runtime.GOMAXPROCS(prev)
			if other != got {
				t.Errorf("n=%d: %v on %d cores, %v on %d", n, other, procs, got, prev)
			}
		}
	}
}

// open_clip's cosine_lr: warm-up (step+1)/warmup, then cosine over the rest.
func TestWarmupCosine(t *testing.T) {
	s := WarmupCosine(110, 10, 1e-3)
	for e, want := range map[int]float64{0: 1e-4, 4: 5e-4, 9: 1e-3, 10: 1e-3, 60: 5e-4, 110: 0} {
		if got := s.LR(e); math.Abs(got-want) > 1e-15 {
			t.Errorf("step %d: lr %.17g, want %g", e, got, want)
		}
	}
}

// Elements that have had no gradient yet keep their value (the update is
// p −= lr·0/ε), while an element whose gradient is 0 now but whose moments
// are not keeps moving, as in torch.
func TestAdamWUntouchedRows(t *testing.T) {
	w := autograd.Param(tensor.NewRNG(1).Normal(0, 1, 5, 3))
	init := w.Value.Clone()
	opt := NewAdamW([]Group{{Params: []nn.NamedParam{{Name: "emb", Var: w}}}}, 0.1)
	grad := func(row int) {
		g := tensor.Zeros(5, 3)
		for j := range 3 {
			g.Set(float32(j+1), row, j)
		}
		w.Grad = g
	}
	grad(1)
	opt.Step()
	afterOne := w.Value.Clone()
	grad(2)
	opt.Step()
	for r := range 5 {
		for j := range 3 {
			was, now, first := init.At(r, j), w.Value.At(r, j), afterOne.At(r, j)
			switch r {
			case 1, 2:
				if now == was || (r == 1 && now == first) {
					t.Errorf("row %d col %d did not move: %g → %g → %g", r, j, was, first, now)
				}
			default:
				if now != was {
					t.Errorf("untouched row %d col %d moved: %g → %g", r, j, was, now)
				}
			}
		}
	}
}
