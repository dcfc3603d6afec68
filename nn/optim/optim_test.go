package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

func near(t *testing.T, what string, got *tensor.Tensor, want []float64, tol float64) {
	t.Helper()
	g := got.ToSlice()
	for i := range want {
		if math.Abs(float64(g[i])-want[i]) > tol {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, g[i], want[i])
		}
	}
}

// Three steps of SGD(lr 0.1, momentum 0.9, wd 0.01), worked by hand:
//
//	step 1: g = [0.5, 0.1] + 0.01·[1, −2] = [0.51, 0.08]; buf = g; p = [0.949, −2.008]
//	step 2: g = [−0.29051, 0.17992]; buf = [0.16849, 0.25192]; p = [0.932151, −2.033192]
//	step 3: g = [0.10932151, −0.42033192]; buf = [0.26096251, −0.19360392];
//	        p = [0.906054749, −2.013831608]
func TestSGDMomentumWeightDecay(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{1, -2}, 2))
	frozen := autograd.Param(tensor.FromSlice([]float32{3}, 1))
	frozen.SetRequiresGrad(false)
	noGrad := autograd.Param(tensor.FromSlice([]float32{4}, 1))
	opt := NewSGD([]nn.NamedParam{np("p", p), np("frozen", frozen), np("nograd", noGrad)}, 0.1, 0.9, 0.01)
	grads := [][]float32{{0.5, 0.1}, {-0.3, 0.2}, {0.1, -0.4}}
	wantP := [][]float64{{0.949, -2.008}, {0.932151, -2.033192}, {0.906054749, -2.013831608}}
	wantB := [][]float64{{0.51, 0.08}, {0.16849, 0.25192}, {0.26096251, -0.19360392}}
	for s, g := range grads {
		opt.ZeroGrad()
		if p.Grad != nil {
			t.Fatal("ZeroGrad left a gradient")
		}
		p.Grad = tensor.FromSlice(append([]float32{}, g...), 2)
		frozen.Grad = tensor.FromSlice([]float32{1}, 1) // must be ignored: frozen
		opt.Step()
		near(t, "p", p.Value, wantP[s], 1e-6)
		near(t, "buf", opt.State().Momentum["p"], wantB[s], 1e-6)
		near(t, "grad untouched", p.Grad, []float64{float64(g[0]), float64(g[1])}, 0)
	}
	if frozen.Value.At(0) != 3 || noGrad.Value.At(0) != 4 {
		t.Errorf("frozen %g / grad-less %g parameter changed", frozen.Value.At(0), noGrad.Value.At(0))
	}
	if st := opt.State(); len(st.Momentum) != 1 || st.Steps != 3 {
		t.Errorf("state has %d buffers, %d steps", len(st.Momentum), st.Steps)
	}
}

func TestSGDPlain(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{1, -2}, 2))
	opt := NewSGD([]nn.NamedParam{np("p", p)}, 0.5, 0, 0)
	p.Grad = tensor.FromSlice([]float32{0.5, 0.1}, 2)
	opt.Step()
	opt.Step()
	near(t, "p", p.Value, []float64{0.5, -2.1}, 1e-7)
}

// resumable is an optimizer whose state can be exported and imported.
type resumable[S any] interface {
	Step()
	Steps() int
	State() S
	LoadState(S) error
}

// checkResume exports the state of the optimizer mk makes after two steps
// on a 3-element parameter, imports it into a fresh one, and checks that
// the third step matches the uninterrupted run exactly; it returns the
// fresh optimizer and the exported state for the bad-state checks.
func checkResume[S any, O resumable[S]](t *testing.T, mk func() (*autograd.Var, O)) (O, S) {
	t.Helper()
	grad := func(s int) *tensor.Tensor {
		return tensor.FromSlice([]float32{float32(s) + 0.5, -1, 0.25 * float32(s)}, 3)
	}
	p, opt := mk()
	for s := 0; s < 2; s++ {
		p.Grad = grad(s)
		opt.Step()
	}
	st := opt.State()
	saved := p.Value.Clone()
	p.Grad = grad(2)
	opt.Step()

	q, opt2 := mk()
	q.Value.CopyFrom(saved)
	if err := opt2.LoadState(st); err != nil {
		t.Fatal(err)
	}
	q.Grad = grad(2)
	opt2.Step()
	if d := tensor.MaxAbsDiff(p.Value, q.Value); d != 0 || opt2.Steps() != 3 {
		t.Errorf("resumed step differs by %g (steps %d)", d, opt2.Steps())
	}
	return opt2, st
}

// Export after two steps, import into a fresh optimizer: the third step
// matches the uninterrupted run exactly; bad states are reported by key.
func TestSGDStateResume(t *testing.T) {
	opt2, st := checkResume(t, func() (*autograd.Var, *SGD) {
		p := autograd.Param(tensor.FromSlice([]float32{1, -2, 0.5}, 3))
		return p, NewSGD([]nn.NamedParam{np("ctx", p)}, 0.002, 0.9, 5e-4)
	})
	st.Momentum["ctx"] = tensor.Zeros(4)
	st.Momentum["nope"] = tensor.Zeros(1)
	err := opt2.LoadState(st)
	if err == nil || !strings.Contains(err.Error(), `"ctx"`) || !strings.Contains(err.Error(), "[3]") ||
		!strings.Contains(err.Error(), "[4]") || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bad state: err = %v", err)
	}
}

// docs/cocoop.md §2.3: CoCoOp, MAX_EPOCH 10, epochs 0..9.
func TestCoCoOpSchedule(t *testing.T) {
	want := []float64{1e-5, 0.002, 0.0019511, 0.0018090, 0.0015878, 0.0013090, 0.0010000, 0.00069098, 0.00041221, 0.00019098}
	s := CoCoOpSchedule(10, 0.002)
	for e, w := range want {
		if got := s.LR(e); math.Abs(got-w) > 5e-5*w {
			t.Errorf("epoch %d: lr %.8g, want %.8g", e, got, w)
		}
	}
	// Exact formula: 0.001·(1 + cos(π(e−1)/10)) for e ≥ 1.
	for e := 1; e < 10; e++ {
		if got, w := s.LR(e), 0.001*(1+math.Cos(math.Pi*float64(e-1)/10)); math.Abs(got-w) > 1e-15 {
			t.Errorf("epoch %d: lr %.17g, want %.17g", e, got, w)
		}
	}
	c := Cosine{MaxEpoch: 200, BaseLR: 0.002} // CoOp
	if c.LR(0) != 0.002 || math.Abs(c.LR(100)-0.001) > 1e-15 || math.Abs(c.LR(200)) > 1e-15 {
		t.Errorf("cosine: %g %g %g", c.LR(0), c.LR(100), c.LR(200))
	}
	w := ConstantWarmup{After: c, Warmup: 3, WarmupLR: 1e-4}
	if w.LR(2) != 1e-4 || w.LR(3) != 0.002 || w.LR(4) != c.LR(1) {
		t.Errorf("warmup 3: %g %g %g", w.LR(2), w.LR(3), w.LR(4))
	}
}

func np(name string, v *autograd.Var) nn.NamedParam { return nn.NamedParam{Name: name, Var: v} }
