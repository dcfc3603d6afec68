package autograd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuickGELUKernels checks the vectorized QuickGELU kernels against their
// scalar float64 references, on random inputs, extremes and non-finite
// values, and that the result does not depend on where a slice is split.
func TestQuickGELUKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 3*geluChunk + 37
	x := make([]float32, n)
	g := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 4)
		g[i] = float32(r.NormFloat64())
	}
	special := []float32{0, -0.0, 1e-30, -1e-30, 30, -30, 60, -60, 100, -100, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	copy(x[5:], special)
	y, yRef := make([]float32, n), make([]float32, n)
	dx, dxRef := make([]float32, n), make([]float32, n)
	quickGELUFwd(y, x)
	quickGELUFwdRef(yRef, x)
	quickGELUBwd(dx, g, x)
	quickGELUBwdRef(dxRef, g, x)
	// Tolerance: a few float32 ulps of the terms of each result; the
	// backward's 1.702·x·σ(1−σ) term carries the reference's own rounding
	// of 1−σ (cancellation for large x), up to ulp(1)·1.702·|x|·|g|.
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
		close("bwd", i, dx[i], dxRef[i], (1+quickGELUAlpha*ax)*float32(math.Abs(float64(g[i]))))
	}
	// Split independence: any chunking gives the same bits.
	y2, dx2 := make([]float32, n), make([]float32, n)
	for lo := 0; lo < n; {
		hi := min(n, lo+1+r.IntN(700))
		quickGELUFwd(y2[lo:hi], x[lo:hi])
		quickGELUBwd(dx2[lo:hi], g[lo:hi], x[lo:hi])
		lo = hi
	}
	for i := range x {
		if math.Float32bits(y2[i]) != math.Float32bits(y[i]) || math.Float32bits(dx2[i]) != math.Float32bits(dx[i]) {
			t.Fatalf("element %d (x = %v) depends on the split: %v/%v vs %v/%v", i, x[i], y2[i], dx2[i], y[i], dx[i])
		}
	}
}

func BenchmarkQuickGELUKernels(b *testing.B) {
	n := 219 * 2048
	x, g, y := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i%97)/10 - 5
		g[i] = 1
	}
	for _, k := range []struct {
		name string
		f    func()
	}{
		{"fwd", func() { quickGELUFwd(y, x) }},
		{"fwd_ref", func() { quickGELUFwdRef(y, x) }},
		{"bwd", func() { quickGELUBwd(y, g, x) }},
		{"bwd_ref", func() { quickGELUBwdRef(y, g, x) }},
	} {
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				k.f()
			}
		})
	}
}
