package nn

// Naive float64 references used by the tests: loops straight from the
// definitions in docs/clip.md §1, no shared code with the modules.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 42)) }

// randT returns a tensor of U(-scale, scale) values.
func randT(r *rand.Rand, scale float32, shape ...int) *tensor.Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = scale * (2*r.Float32() - 1)
	}
	return tensor.FromSlice(d, shape...)
}

// randomize overwrites every parameter of m with U(-scale, scale) values
// (LayerNorm weights around 1), so defaults like zero biases don't hide bugs.
func randomize(r *rand.Rand, m Module, scale float32) {
	for _, p := range m.NamedParameters("") {
		t := randT(r, scale, p.Var.Shape()...)
		if len(p.Name) >= 6 && p.Name[len(p.Name)-6:] == "weight" && p.Var.Value.NDim() == 1 {
			t = tensor.AddScalar(t, 1)
		}
		p.Var.Value.CopyFrom(t)
	}
}

func f64(t *tensor.Tensor) []float64 {
	s := t.ToSlice()
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

// checkClose compares got with want elementwise: |g−w| ≤ atol + rtol·|w|.
func checkClose(t *testing.T, what string, got *tensor.Tensor, want []float64, atol, rtol float64) {
	t.Helper()
	g := got.ToSlice()
	if len(g) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(g), len(want))
	}
	worst, at := 0.0, -1
	for i := range g {
		d := math.Abs(float64(g[i]) - want[i])
		if d > atol+rtol*math.Abs(want[i]) && d > worst {
			worst, at = d, i
		}
	}
	if at >= 0 {
		t.Errorf("%s: element %d = %g, want %g (|diff| %.3g)", what, at, g[at], want[at], worst)
	}
}

// refLinear: x [rows, in] (flat), w [out, in], b [out] or nil -> [rows, out].
func refLinear(x []float64, rows, in int, w []float64, out int, b []float64) []float64 {
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := 0; i < in; i++ {
				s += x[r*in+i] * w[o*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

func refLayerNorm(x []float64, rows, d int, w, b []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		row := x[r*d : (r+1)*d]
		mean := 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(d)
		vr := 0.0
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(d)
		for i, v := range row {
			y[r*d+i] = (v-mean)/math.Sqrt(vr+eps)*w[i] + b[i]
		}
	}
	return y
}

// refMHA: x [n, l, D] flat; per-head loops. Returns output [n, l, D] and
// probabilities [n, H, l, l].
func refMHA(x []float64, n, l, dim, heads int, inW, inB, outW, outB []float64, causal bool) (y, probs []float64) {
	hd := dim / heads
	qkv := refLinear(x, n*l, dim, inW, 3*dim, inB) // [n·l, 3D]
	o := make([]float64, n*l*dim)
	probs = make([]float64, n*heads*l*l)
	scale := 1 / math.Sqrt(float64(hd))
	for b := 0; b < n; b++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < l; i++ {
				sc := make([]float64, l)
				mx := math.Inf(-1)
				for j := 0; j < l; j++ {
					if causal && j > i {
						sc[j] = math.Inf(-1)
						continue
					}
					s := 0.0
					for c := 0; c < hd; c++ {
						q := qkv[(b*l+i)*3*dim+h*hd+c]
						k := qkv[(b*l+j)*3*dim+dim+h*hd+c]
						s += q * scale * k
					}
					sc[j] = s
					mx = math.Max(mx, s)
				}
				z := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for j := range sc {
					p := sc[j] / z
					probs[((b*heads+h)*l+i)*l+j] = p
					for c := 0; c < hd; c++ {
						o[(b*l+i)*dim+h*hd+c] += p * qkv[(b*l+j)*3*dim+2*dim+h*hd+c]
					}
				}
			}
		}
	}
	return refLinear(o, n*l, dim, outW, dim, outB), probs
}

func refBlock(x []float64, n, l, dim, heads int, b *ResidualAttentionBlock) []float64 {
	rows := n * l
	h := refLayerNorm(x, rows, dim, f64(b.Ln1.Weight.Value), f64(b.Ln1.Bias.Value), 1e-5)
	a, _ := refMHA(h, n, l, dim, heads, f64(b.Attn.InProjWeight.Value), f64(b.Attn.InProjBias.Value),
		f64(b.Attn.OutProj.Weight.Value), f64(b.Attn.OutProj.Bias.Value), b.Causal)
	x1 := make([]float64, len(x))
	for i := range x {
		x1[i] = x[i] + a[i]
	}
	h = refLayerNorm(x1, rows, dim, f64(b.Ln2.Weight.Value), f64(b.Ln2.Bias.Value), 1e-5)
	f := refLinear(h, rows, dim, f64(b.MLP.CFc.Weight.Value), 4*dim, f64(b.MLP.CFc.Bias.Value))
	for i, v := range f {
		f[i] = v / (1 + math.Exp(-1.702*v))
	}
	m := refLinear(f, rows, 4*dim, f64(b.MLP.CProj.Weight.Value), dim, f64(b.MLP.CProj.Bias.Value))
	for i := range x1 {
		x1[i] += m[i]
	}
	return x1
}

// refConv: direct Conv2d(kernel = stride = p, no bias) loop, output as tokens
// [n, gh·gw, D].
func refConv(x []float64, n, c, h, w int, wt []float64, dim, p int) []float64 {
	gh, gw := h/p, w/p
	y := make([]float64, n*gh*gw*dim)
	for b := 0; b < n; b++ {
		for d := 0; d < dim; d++ {
			for gy := 0; gy < gh; gy++ {
				for gx := 0; gx < gw; gx++ {
					s := 0.0
					for ch := 0; ch < c; ch++ {
						for ky := 0; ky < p; ky++ {
							for kx := 0; kx < p; kx++ {
								s += x[((b*c+ch)*h+gy*p+ky)*w+gx*p+kx] * wt[((d*c+ch)*p+ky)*p+kx]
							}
						}
					}
					y[(b*gh*gw+gy*gw+gx)*dim+d] = s
				}
			}
		}
	}
	return y
}

// fakeLoss is Σ out·r for a fixed random r, so every output element gets its
// own upstream gradient.
func fakeLoss(out *autograd.Var, r *tensor.Tensor) *autograd.Var {
	return autograd.Sum(autograd.Mul(out, autograd.Constant(r)), nil, false)
}
