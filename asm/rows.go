package asm

import "math"

// Vectorized row helpers used by the models. Each exported helper
// dispatches to the current tier's kernel; the Go references (…Go) sit next
// to them and are what the Generic tier runs.

// rowKernels is one tier's set of row kernels.
type rowKernels struct {
	dot     func(x, y []float32) float32
	axpy    func(alpha float32, x, y []float32)
	scale   func(alpha float32, x []float32)
	add     func(dst, a, b []float32)
	mul     func(dst, a, b []float32)
	max     func(x []float32) float32
	sum     func(x []float32) float32
	expSub  func(x []float32, m float32) float32 // x[i] = exp(x[i]-m), returns Σ
	sumSqD  func(x []float32, mean float32) float32
	normAff func(dst, x, gamma, beta []float32, mean, rstd float32)
	gelu    func(y, x []float32)
	geluG   func(dx, dy, x []float32)
}

var genericRows = rowKernels{
	dot: dotGo, axpy: axpyGo, scale: scaleGo, add: addGo, mul: mulGo,
	max: maxGo, sum: sumGo, expSub: expSubGo, sumSqD: sumSqDGo, normAff: normAffGo,
	gelu: quickGELUGo, geluG: quickGELUGradGo,
}

func rows() *rowKernels { return &current.Load().rows }

// Dot returns Σ x[i]·y[i] over len(x) elements; y must be at least as long.
func Dot(x, y []float32) float32 {
	_ = y[:len(x)]
	return rows().dot(x, y[:len(x)])
}

// Axpy computes y[i] += alpha·x[i] for i < len(x); y must be at least as long.
func Axpy(alpha float32, x, y []float32) {
	_ = y[:len(x)]
	rows().axpy(alpha, x, y[:len(x)])
}

// Scale computes x[i] *= alpha.
func Scale(alpha float32, x []float32) { rows().scale(alpha, x) }

// Add computes dst[i] = a[i] + b[i] for i < len(dst); dst may alias a or b.
func Add(dst, a, b []float32) {
	n := len(dst)
	rows().add(dst, a[:n], b[:n])
}

// Mul computes dst[i] = a[i]·b[i] for i < len(dst); dst may alias a or b.
func Mul(dst, a, b []float32) {
	n := len(dst)
	rows().mul(dst, a[:n], b[:n])
}

// ExpInPlace computes x[i] = exp(x[i]). The polynomial (Cephes expf:
// Cody-Waite reduction by ln2 in two parts, degree-7 polynomial in r) has a
// maximum relative error of about 1.1e-7 (≈ 2 ulp; TestExp measures it) for
// inputs in [-86.9, 88.7]; below -86.9 the result is 0 (exp(-86.9) ≈ 1.8e-38),
// above ≈88.72 it is +Inf, and NaN stays NaN.
func ExpInPlace(x []float32) { rows().expSub(x, 0) }

// The range of exp's argument in every kernel (the CUDA backend's too):
// inputs are clamped to ≤ ExpHi, where the result overflows to +Inf, and
// below ExpLo the result is 0 (this keeps n ≥ -125, a normal 2^(n-1)).
const (
	ExpLo = -86.9
	ExpHi = 89
)

// QuickGELUAlpha is α in CLIP's activation QuickGELU(x) = x·σ(α·x).
const QuickGELUAlpha = 1.702

// QuickGELU sets y[i] = x[i]·σ(α·x[i]) = x[i]/(1 + e^(−α·x[i])) for
// i < len(y), α = QuickGELUAlpha, with ExpInPlace's exp and one division;
// y may alias x. e^(−α·x) overflows to +Inf for x < −52.1, giving −0 (NaN
// for x = −Inf, ∞/∞), and is 0 for x > 51.1, giving x. TestQuickGELU
// states the error bounds.
func QuickGELU(y, x []float32) { rows().gelu(y, x[:len(y)]) }

// QuickGELUGrad sets dx[i] = dy[i]·QuickGELU′(x[i]) for i < len(dx), with
// QuickGELU′(x) = σ + α·x·σ·(1−σ) = σ·(1 + α·x·(1−σ)), σ = σ(α·x): it
// recomputes σ from x as QuickGELU does, and 1−σ as e·σ, free of the
// cancellation of 1−σ for large x. dx may alias dy or x. No NaN unless x
// or dy is NaN: the derivative is 1 for large x (+Inf included) and 0 for
// very negative x (−Inf included).
func QuickGELUGrad(dx, dy, x []float32) {
	n := len(dx)
	rows().geluG(dx, dy[:n], x[:n])
}

// SoftmaxRow replaces x by softmax(x) in place, subtracting max(x) first so
// that no exponential overflows. An empty row is left alone.
func SoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	r := rows()
	m := r.max(x)
	s := r.expSub(x, m)
	r.scale(1/s, x)
}

// LayerNormRow sets dst[i] = (x[i]-mean)·rstd·gamma[i] + beta[i] with the
// biased variance var = Σ(x-mean)²/n and rstd = 1/sqrt(var+eps), and returns
// mean and rstd (for the backward pass). dst may alias x. gamma and beta
// must be at least len(x) long; n = len(x) > 0.
func LayerNormRow(dst, x, gamma, beta []float32, eps float32) (mean, rstd float32) {
	n := len(x)
	if n == 0 {
		return 0, 0
	}
	dst, gamma, beta = dst[:n], gamma[:n], beta[:n]
	r := rows()
	mean = r.sum(x) / float32(n)
	v := r.sumSqD(x, mean) / float32(n)
	rstd = float32(1 / math.Sqrt(float64(v+eps)))
	r.normAff(dst, x, gamma, beta, mean, rstd)
	return mean, rstd
}

// Go references.

func dotGo(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

func axpyGo(alpha float32, x, y []float32) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

func scaleGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func addGo(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func mulGo(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func maxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
			if v != v {
				return v
			}
		}
	}
	return m
}

func sumGo(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

func sumSqDGo(x []float32, mean float32) float32 {
	var s float32
	for _, v := range x {
		d := v - mean
		s += d * d
	}
	return s
}

func normAffGo(dst, x, gamma, beta []float32, mean, rstd float32) {
	for i, v := range x {
		dst[i] = (v-mean)*rstd*gamma[i] + beta[i]
	}
}

func expSubGo(x []float32, m float32) float32 {
	var s float32
	for i, v := range x {
		e := expf(v - m)
		x[i] = e
		s += e
	}
	return s
}

// Constants of expf (Cephes): exp(x) = 2^n·exp(r), r = x - n·ln2 with ln2
// split into expC1 + expC2 so that n·expC1 is exact. The same constants
// are in the expc<> tables of rows_*_amd64.s.
const (
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// expf is the scalar reference of the vector exp kernels and runs their
// tails (the last len%lanes elements of a slice). Both use the same
// constants, clamps and order of operations, but the vector kernels fuse
// each multiply-add (one rounding, VFMADD) where expf rounds twice, so the
// two differ by one ulp on about 1.6% of inputs; both stay within
// ExpInPlace's error bound. An element's bits therefore depend on whether
// it falls in a slice's vector body or tail: callers that split an array
// across cores cut it at multiples of 16 (tensor.ParallelForVec). The
// result is scaled by 2^(n-1)·2 so that n = 128 overflows to +Inf only when
// exp(x) does.
func expf(x float32) float32 {
	if x != x {
		return x
	}
	if x < ExpLo {
		return 0
	}
	x = min(x, ExpHi)
	n := float32(math.Floor(float64(x*expLog2e + 0.5)))
	r := x - n*expC1
	r -= n * expC2
	z := r * r
	y := float32(expP0)
	y = y*r + expP1
	y = y*r + expP2
	y = y*r + expP3
	y = y*r + expP4
	y = y*r + expP5
	y = y*z + r + 1
	y *= math.Float32frombits(uint32(int32(n)+126) << 23)
	return y + y
}

// quickGELUGo is the reference of the QuickGELU kernels and runs their
// tails: the same operations as the assembly (which fuses the exp's
// multiply-adds, see expf).
func quickGELUGo(y, x []float32) {
	for i, v := range x {
		y[i] = v / (1 + expf(-QuickGELUAlpha*v))
	}
}

// quickGELUGradGo is the reference of the QuickGELUGrad kernels: with
// a = −α·x, e = e^a, s = 1/(1+e) = σ(α·x) and t = e·s = 1−σ,
// dx = dy·s·(1 − a·t). t is 1 where e = +Inf (x < −52.1) makes e·s NaN,
// and where rounding takes it above 1. a·t takes a clamped to expf's
// [ExpLo, ExpHi], as the kernels do: finite where −α·x overflows (|x| >
// 2e38, ±Inf), and exact elsewhere where it matters (t = 0 below ExpLo,
// s = 0 above ExpHi).
func quickGELUGradGo(dx, dy, x []float32) {
	for i, v := range x {
		a := -QuickGELUAlpha * v
		e := expf(a)
		s := 1 / (1 + e)
		t := e * s
		if !(t <= 1) {
			t = 1
		}
		a = min(max(a, ExpLo), ExpHi)
		dx[i] = dy[i] * (s * (1 - a*t))
	}
}
