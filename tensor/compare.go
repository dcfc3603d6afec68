package tensor

import "math"

// AllClose reports whether a and b have the same shape and every pair of
// elements satisfies |a-b| <= atol + rtol·|b| (numpy.allclose). NaNs are
// never close.
func AllClose(a, b *Tensor, rtol, atol float64) bool {
	if !SameShape(a.shape, b.shape) {
		return false
	}
	x, y := a.ToSlice(), b.ToSlice()
	for i := range x {
		if x[i] == y[i] { // also equal infinities
			continue
		}
		d := math.Abs(float64(x[i]) - float64(y[i]))
		if !(d <= atol+rtol*math.Abs(float64(y[i]))) {
			return false
		}
	}
	return true
}

// MaxAbsDiff returns max |a-b| over elements; +Inf when shapes differ, NaN
// when any pair involves a NaN.
func MaxAbsDiff(a, b *Tensor) float64 {
	if !SameShape(a.shape, b.shape) {
		return math.Inf(1)
	}
	x, y := a.ToSlice(), b.ToSlice()
	var m float64
	for i := range x {
		if x[i] == y[i] {
			continue
		}
		d := math.Abs(float64(x[i]) - float64(y[i]))
		if math.IsNaN(d) {
			return math.NaN()
		}
		m = max(m, d)
	}
	return m
}

// RelErr is max|got − want| / max|want|: the error relative to want's
// largest magnitude, the measure every parity check in this project uses
// (tolerances are stated in it). +Inf when shapes differ, NaN with NaNs.
func RelErr(got, want *Tensor) float64 {
	scale := 0.0
	for _, v := range want.ToSlice() {
		scale = max(scale, math.Abs(float64(v)))
	}
	return MaxAbsDiff(got, want) / max(scale, 1e-30)
}
