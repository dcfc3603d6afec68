package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/tensor"
)

// TestQuickGELUKernels checks the QuickGELU layer, forward and backward, on
// every kernel tier against scalar references with σ in float64, on random
// inputs, extremes and NaN, over a ragged length (the asm kernels' tails);
// asm's TestQuickGELU checks the kernels themselves, ±Inf included.
func TestQuickGELUKernels(t *testing.T) {
	defer asm.SetTier(asm.CurrentTier())
	r := rand.New(rand.NewPCG(3, 4))
	const n = 3*1024 + 37
	x := make([]float32, n)
	g := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 4)
		g[i] = float32(r.NormFloat64())
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, // +0, −0 (a literal -0.0 is +0 in Go)
		-1e-30, 30, -30, 60, -60, 100, -100, 1e30, -1e30,
		math.MaxFloat32, -math.MaxFloat32, float32(math.NaN())}
	copy(x[5:], special)
	copy(x[n-len(special):], special) // in the tail of every tier
	yRef, dxRef := make([]float32, n), make([]float32, n)
	quickGELUFwdRef(yRef, x)
	quickGELUBwdRef(dxRef, g, x)
	for _, tier := range asm.SupportedTiers() {
		if err := asm.SetTier(tier); err != nil {
			t.Fatal(err)
		}
		t.Run(tier.String(), func(t *testing.T) {
			xv := Param(tensor.FromSlice(x, n))
			yv := QuickGELU(xv)
			yv.BackwardWith(tensor.FromSlice(g, n))
			y, dx := yv.Value.ToSlice(), xv.Grad.ToSlice()
			// Tolerance: a few float32 ulps of the terms of each result;
			// the backward's 1.702·x·σ(1−σ) term carries the reference's
			// own rounding of 1−σ (cancellation for large x), up to
			// ulp(1)·1.702·|x|·|g|.
			close := func(what string, i int, got, want, scale float32) {
				t.Helper()
				if math.IsNaN(float64(want)) {
					if !math.IsNaN(float64(got)) {
						t.Errorf("%s(%v) = %v, want NaN", what, x[i], got)
					}
					return
				}
				if got == want {
					return
				}
				d := math.Abs(float64(got - want))
				if d > 4e-7*math.Max(float64(scale), math.Abs(float64(want))) {
					t.Errorf("%s(%v) = %v, want %v (diff %g)", what, x[i], got, want, d)
				}
			}
			for i := range x {
				ax := float32(math.Abs(float64(x[i])))
				close("fwd", i, y[i], yRef[i], 1)
				close("bwd", i, dx[i], dxRef[i], (1+asm.QuickGELUAlpha*ax)*float32(math.Abs(float64(g[i]))))
			}
		})
	}
}

// quickGELUFwdRef is the scalar reference of QuickGELU (σ in float64).
func quickGELUFwdRef(y, x []float32) {
	for i := range y {
		y[i] = x[i] * sigmoid32(asm.QuickGELUAlpha*x[i])
	}
}

// quickGELUBwdRef is the scalar reference of QuickGELU's backward (σ in
// float64). For |x| > 2e38, where 1.702·x overflows, it returns the limits
// 1 and 0 of the derivative, as the kernels do.
func quickGELUBwdRef(dx, g, x []float32) {
	for i := range dx {
		s := sigmoid32(asm.QuickGELUAlpha * x[i])
		d := s + asm.QuickGELUAlpha*x[i]*s*(1-s)
		if math.Abs(float64(x[i])) > 1e38 {
			d = s // 1 for x > 0, 0 for x < 0
		}
		dx[i] = g[i] * d
	}
}

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
