package autograd

import (
	"math"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/tensor"
)

// anyCoresProcs are the GOMAXPROCS values whose results must equal those of
// GOMAXPROCS 1 bit for bit.
var anyCoresProcs = []int{2, 3, 5, 7}

// grain is tensor's parallel grain: ops of n elements of cost c split into
// up to n·c/grain chunks.
const grain = 1 << 15

// sameBitsAnyCores runs f (a forward and backward returning its values and
// gradients) at GOMAXPROCS 1 and at each of anyCoresProcs, and reports every
// output that differs in any bit.
func sameBitsAnyCores(t *testing.T, f func() []*tensor.Tensor) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := f()
	for _, p := range anyCoresProcs {
		runtime.GOMAXPROCS(p)
		for i, got := range f() {
			a, b := want[i].Data(), got.Data()
			n := 0
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
					n++
				}
			}
			if n > 0 {
				t.Errorf("GOMAXPROCS %d: output %d differs from GOMAXPROCS 1 in %d of %d elements", p, i, n, len(a))
			}
		}
	}
}

// splitSensitive returns n values x for which the row kernel gives
// different bits through its vector body and its scalar tail (about 1% of
// inputs for exp on the AVX tiers; on the generic tier, where there are
// none, n normal values), so that a chunk boundary off the vector grid
// shows.
func splitSensitive(n int, kernel func(dst, src []float32)) []float32 {
	rng := tensor.NewRNG(77)
	var found []float32
	var in, vec [16]float32
	one := make([]float32, 1)
	for range 200000 {
		x := float32(rng.NormFloat64() * 3)
		for i := range in {
			in[i] = x
		}
		kernel(one, in[:1])
		kernel(vec[:], in[:])
		if one[0] != vec[0] {
			if found = append(found, x); len(found) == 256 {
				break
			}
		}
	}
	out := make([]float32, n)
	for i := range out {
		if len(found) > 0 {
			out[i] = found[rng.Intn(len(found))]
		} else {
			out[i] = float32(rng.NormFloat64())
		}
	}
	return out
}

// forwardBackward runs op on fresh parameters of vals, back-propagates g and
// returns the output and the inputs' gradients.
func forwardBackward(op func(v []*Var) *Var, g *tensor.Tensor, vals ...*tensor.Tensor) []*tensor.Tensor {
	vs := make([]*Var, len(vals))
	for i, v := range vals {
		vs[i] = Param(v.Clone())
	}
	y := op(vs)
	y.BackwardWith(g)
	out := []*tensor.Tensor{y.Value}
	for _, v := range vs {
		out = append(out, v.Grad)
	}
	return out
}

// TestSameBitsAnyCores runs every op that autograd splits across cores,
// forward and backward, on ragged sizes large enough to split seven ways,
// and checks that 2, 3, 5 and 7 cores give the bits of one.
func TestSameBitsAnyCores(t *testing.T) {
	defer asm.SetTier(asm.CurrentTier())
	for _, tier := range asm.SupportedTiers() {
		if err := asm.SetTier(tier); err != nil {
			t.Fatal(err)
		}
		t.Run(tier.String(), testSameBitsAnyCores)
	}
}

func testSameBitsAnyCores(t *testing.T) {
	const n = 7*grain + 13 // flat: 7 chunks of cost 1, ragged end
	rng := tensor.NewRNG(3)
	g := rng.Normal(0, 1, n)
	gelu := tensor.FromSlice(splitSensitive(n, asm.QuickGELU), n)
	exp := tensor.FromSlice(splitSensitive(n, func(d, s []float32) { copy(d, s); asm.ExpInPlace(d) }), n)
	x := rng.Normal(0, 1, n)
	pos := tensor.AddScalar(tensor.Square(x), 0.5)
	for _, c := range []struct {
		name string
		op   func(v []*Var) *Var
		in   *tensor.Tensor
	}{
		{"QuickGELU", func(v []*Var) *Var { return QuickGELU(v[0]) }, gelu},
		{"Exp", func(v []*Var) *Var { return Exp(v[0]) }, exp},
		{"Sqrt", func(v []*Var) *Var { return Sqrt(v[0]) }, pos},
		{"Tanh", func(v []*Var) *Var { return Tanh(v[0]) }, x},
		{"Sigmoid", func(v []*Var) *Var { return Sigmoid(v[0]) }, x},
		{"Relu", func(v []*Var) *Var { return Relu(v[0]) }, x},
	} {
		t.Run(c.name, func(t *testing.T) {
			sameBitsAnyCores(t, func() []*tensor.Tensor { return forwardBackward(c.op, g, c.in) })
		})
	}

	// Attention: 2·4·101 rows of 101 scores, cost 4·101 (forward) and
	// 3·101 (backward) per row.
	const b, h, l, d = 2, 4, 101, 16
	if b*h*l*3*l/grain < 7 {
		t.Fatal("attention too small to split seven ways")
	}
	qkv := []*tensor.Tensor{rng.Normal(0, 1, b, h, l, d), rng.Normal(0, 1, b, h, l, d), rng.Normal(0, 1, b, h, l, d)}
	ga := rng.Normal(0, 1, b, h, l, d)
	for _, causal := range []bool{false, true} {
		name := map[bool]string{false: "Attention", true: "CausalAttention"}[causal]
		t.Run(name, func(t *testing.T) {
			sameBitsAnyCores(t, func() []*tensor.Tensor {
				return forwardBackward(func(v []*Var) *Var { return ScaledDotProductAttention(v[0], v[1], v[2], causal, nil) }, ga, qkv...)
			})
		})
	}

	t.Run("PackedAttention", func(t *testing.T) {
		seqs, R := randomPacked(tensor.NewRNG(3), 4, 12, 5, 10)
		const H, d = 8, 64
		r := tensor.NewRNG(5)
		in := []*tensor.Tensor{r.Normal(0, 1, R, H, d), r.Normal(0, 1, R, H, d), r.Normal(0, 1, R, H, d)}
		gp := r.Normal(0, 1, R, H, d)
		sameBitsAnyCores(t, func() []*tensor.Tensor {
			return forwardBackward(func(v []*Var) *Var { return PackedAttention(v[0], v[1], v[2], seqs, nil) }, gp, in...)
		})
	})

	// LayerNorm: 2311 rows of 101. Rows 3 and 2306 are equal and their
	// upstream gradients are offset by +1e20 and −1e20, so the float64 sums
	// over rows for dw and db cancel differently under any other grouping
	// of the rows.
	t.Run("LayerNorm", func(t *testing.T) {
		const rows, cols = 2311, 101
		if rows*cols/grain < 7 {
			t.Fatal("layer norm too small to split seven ways")
		}
		xl := rng.Normal(0, 1, rows, cols)
		w, bias := rng.Normal(1, 0.1, cols), rng.Normal(0, 0.1, cols)
		gd := rng.Normal(0, 1, rows, cols).Data()
		copy(xl.Data()[(rows-5)*cols:(rows-4)*cols], xl.Data()[3*cols:4*cols])
		for j := range cols {
			gd[3*cols+j] += 1e20
			gd[(rows-5)*cols+j] -= 1e20
		}
		gl := tensor.FromSlice(gd, rows, cols)
		sameBitsAnyCores(t, func() []*tensor.Tensor {
			return forwardBackward(func(v []*Var) *Var { return LayerNorm(v[0], v[1], v[2], 1e-5) }, gl, xl, w, bias)
		})
		// Frozen weight and bias (CLIP's in CoCoOp): rows split one by one.
		sameBitsAnyCores(t, func() []*tensor.Tensor {
			return forwardBackward(func(v []*Var) *Var { return LayerNorm(v[0], Constant(w), Constant(bias), 1e-5) }, gl, xl)
		})
	})
}
