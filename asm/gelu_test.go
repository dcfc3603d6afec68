package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// quickGELURef returns, in float64, a = −α·x (exact: the product of two
// float32 has 48 bits), y = x·σ(−a) and y′ = σ·(1 − a·(1−σ)), the
// derivative. α is the float32 QuickGELUAlpha the kernels multiply by.
func quickGELURef(x float32) (a, s, y, d float64) {
	a = float64(float32(-QuickGELUAlpha)) * float64(x)
	e := math.Exp(a)
	s = 1 / (1 + e)
	t := 1.0 // 1−σ
	if !math.IsInf(e, 1) {
		t = e / (1 + e)
	}
	return a, s, float64(x) * s, s * (1 - a*t)
}

// Error bounds of QuickGELU and QuickGELUGrad against quickGELURef, on
// every tier (TestQuickGELU logs what it measures). The forward's error,
// relative to |y|·(1 + |a|·(1−σ)), is at most 3e-7: the rounding of
// a = −α·x to float32 (2⁻²⁴·|a|, which moves σ by (1−σ)·2⁻²⁴·|a|
// relatively), exp's 1.1e-7 (ExpInPlace), 1+e and the division. The
// backward's is at most 5e-7 of |dy|·(σ + |a|·σ·(1−σ))·(1 + |a|), the
// size of its two terms (which cancel near x ≈ −0.75, where y′ = 0) times
// the amplification of a's rounding. Where σ falls below the smallest
// normal float32, 2⁻¹²⁶ (e = e^a overflows to +Inf for σ < 2⁻¹²⁸), it
// loses all relative precision: an error of |x|·2⁻¹²⁶ in y and of
// |dy|·(1+|a|)·2⁻¹²⁶ in dx is allowed, and of 2⁻¹⁴⁹ (one subnormal ulp)
// in a subnormal result.
const (
	geluFwdTol = 3e-7
	geluBwdTol = 5e-7
	geluTiny   = 0x1p-126
)

// geluInputs returns x values over the whole range: a dense sweep of
// [−60, 60] (past both ends of the exp: e = +Inf below −52.1, 0 above
// 51.1), random N(0, 4²), the values around the overflow, huge, tiny and
// subnormal ones.
func geluInputs(r *rand.Rand) []float32 {
	var x []float32
	const sweep = 120001
	for i := 0; i < sweep; i++ {
		x = append(x, float32(-60+120*float64(i)/(sweep-1)))
	}
	for i := 0; i < 20000; i++ {
		x = append(x, float32(4*r.NormFloat64()))
	}
	for _, v := range []float32{0, 1e-30, 1e-40, 1e-45, 0.5, 1, 2, -0.75, 51, 51.2, -52, -52.1, -52.2, 100, 1e4, 1e20, 1e30, math.MaxFloat32} {
		x = append(x, v, -v, math.Nextafter32(v, 1e9), math.Nextafter32(-v, -1e9))
	}
	return x
}

// geluErrs returns the forward's and the backward's error at x in units
// of geluFwdTol's and geluBwdTol's scale, and whether it exceeds them.
func geluErrs(x, y, dy, dx float32) (fwd, bwd float64, bad bool) {
	a, s, wy, wd := quickGELURef(x)
	fwd = math.Abs(float64(y)-wy) / (math.Abs(wy) * (1 + math.Abs(a)*(1-s)))
	if math.Abs(float64(y)-wy) <= math.Abs(float64(x))*geluTiny+0x1p-149 || float64(y) == wy {
		fwd = 0
	}
	wdx := float64(dy) * wd
	scale := math.Abs(float64(dy)) * (s + math.Abs(a)*s*(1-s)) * (1 + math.Abs(a))
	bwd = math.Abs(float64(dx)-wdx) / scale
	if math.Abs(float64(dx)-wdx) <= math.Abs(float64(dy))*(1+math.Abs(a))*geluTiny+0x1p-149 || float64(dx) == wdx {
		bwd = 0
	}
	return fwd, bwd, !(fwd <= geluFwdTol) || !(bwd <= geluBwdTol)
}

// TestQuickGELU checks QuickGELU and QuickGELUGrad on every tier against
// the float64 reference over the whole range, the special values, ragged
// lengths 0..70 (vector body and Go tail), aliasing, and that nothing past
// len(y) is written.
func TestQuickGELU(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		x := geluInputs(r)
		n := len(x)
		dy := make([]float32, n)
		for i := range dy {
			dy[i] = float32(r.NormFloat64())
		}
		y, dx := make([]float32, n), make([]float32, n)
		QuickGELU(y, x)
		QuickGELUGrad(dx, dy, x)
		var worstF, worstB float64
		for i := range x {
			f, b, bad := geluErrs(x[i], y[i], dy[i], dx[i])
			if bad {
				_, _, wy, wd := quickGELURef(x[i])
				t.Fatalf("x = %v (i = %d): y = %v want %v (err %.3g); dx = %v want %v (err %.3g)",
					x[i], i, y[i], wy, f, dx[i], float64(dy[i])*wd, b)
			}
			worstF, worstB = max(worstF, f), max(worstB, b)
		}
		t.Logf("max error: forward %.3g (bound %g), backward %.3g (bound %g)", worstF, geluFwdTol, worstB, geluBwdTol)

		// Special values, on every lane position of a vector and in the tail.
		inf, nan := float32(math.Inf(1)), float32(math.NaN())
		for _, c := range []struct{ x, y, d float32 }{
			{0, 0, 0.5}, {1e30, 1e30, 1}, {-1e30, 0, 0}, {60, 60, 1}, {-60, 0, 0},
			{math.MaxFloat32, math.MaxFloat32, 1}, {-math.MaxFloat32, 0, 0},
			{inf, inf, 1}, {-inf, nan, 0}, {nan, nan, nan},
		} {
			for _, m := range []int{1, 7, 8, 15, 16, 17, 33, 40} {
				xs, ones := make([]float32, m), make([]float32, m)
				for i := range xs {
					xs[i], ones[i] = c.x, 1
				}
				ys, ds := make([]float32, m), make([]float32, m)
				QuickGELU(ys, xs)
				QuickGELUGrad(ds, ones, xs)
				for i := range xs {
					if !sameValue(ys[i], c.y) || !sameValue(ds[i], c.d) {
						t.Fatalf("len %d, x[%d] = %v: y = %v, y′ = %v; want %v, %v", m, i, c.x, ys[i], ds[i], c.y, c.d)
					}
				}
			}
		}

		// Ragged lengths at ragged offsets; the element past the end stays.
		for _, m := range rowLens {
			off := r.IntN(5)
			xs := make([]float32, off+m)
			gs := make([]float32, off+m)
			for i := range xs {
				xs[i] = x[r.IntN(n)]
				gs[i] = float32(r.NormFloat64())
			}
			xs, gs = xs[off:], gs[off:]
			ys, ds := make([]float32, m+1), make([]float32, m+1)
			ys[m], ds[m] = 42, 42
			QuickGELU(ys[:m], xs)
			QuickGELUGrad(ds[:m], gs, xs)
			if ys[m] != 42 || ds[m] != 42 {
				t.Fatalf("len %d: wrote past the end", m)
			}
			for i := range xs {
				if f, b, bad := geluErrs(xs[i], ys[i], gs[i], ds[i]); bad {
					t.Fatalf("len %d, x[%d] = %v: y = %v (err %.3g), dx = %v (err %.3g)", m, i, xs[i], ys[i], f, ds[i], b)
				}
			}
			// In place: y over x, dx over dy and over x.
			in := append([]float32(nil), xs...)
			QuickGELU(in, in)
			gd := append([]float32(nil), gs...)
			QuickGELUGrad(gd, gd, xs)
			xd := append([]float32(nil), xs...)
			QuickGELUGrad(xd, gs, xd)
			if !sameBits(in, ys[:m]) || !sameBits(gd, ds[:m]) || !sameBits(xd, ds[:m]) {
				t.Fatalf("len %d: aliased results differ", m)
			}
		}
	})
}

// sameValue reports whether a and b are equal, both NaN, or both zero.
func sameValue(a, b float32) bool {
	return a == b || (a != a && b != b)
}
