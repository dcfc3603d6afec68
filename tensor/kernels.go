package tensor

import (
	"math"

	"github.com/gocoop/gocoop/asm"
)

// Row kernels: the innermost loops. Each op has its own loop (the switch is
// outside the loop), so the unit-stride cases compile to tight, bounds-check
// free loops. When package asm grows vector row helpers they slot in here.

// binOp selects a binary kernel.
type binOp uint8

const (
	opAdd  binOp = iota // d = x + y
	opSub               // d = x - y
	opMul               // d = x * y
	opDiv               // d = x / y
	opMax               // d = max(x, y)
	opCopy              // d = y
	opAxpy              // d = x + alpha*y
)

func (op binOp) apply(x, y, alpha float32) float32 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opMax:
		if y > x {
			return y
		}
		return x
	case opCopy:
		return y
	default: // opAxpy
		return x + alpha*y
	}
}

// rowKernel runs op over one row of n elements with the given strides.
func rowKernel(op binOp, alpha float32, n int, d []float32, ds int, x []float32, xs int, y []float32, ys int) {
	switch {
	case ds == 1 && xs == 1 && ys == 1:
		binVV(op, alpha, d[:n], x[:n], y[:n])
	case ds == 1 && xs == 1 && ys == 0:
		binVS(op, alpha, d[:n], x[:n], y[0])
	case ds == 1 && xs == 0 && ys == 1:
		binSV(op, alpha, d[:n], x[0], y[:n])
	case ds == 0 && xs == 0 && (op == opAdd || op == opMax || op == opAxpy) && n > 1:
		// Accumulating reduction: fold the row of y into d[0].
		var acc float32
		switch op {
		case opMax:
			acc = maxStrided(y, ys, n)
			if acc < x[0] {
				acc = x[0]
			}
		case opAdd:
			acc = x[0] + sumStrided(y, ys, n)
		default:
			acc = x[0] + alpha*sumStrided(y, ys, n)
		}
		d[0] = acc
	default:
		di, xi, yi := 0, 0, 0
		for i := 0; i < n; i++ {
			d[di] = op.apply(x[xi], y[yi], alpha)
			di += ds
			xi += xs
			yi += ys
		}
	}
}

func binVV(op binOp, alpha float32, d, x, y []float32) {
	x = x[:len(d)]
	y = y[:len(d)]
	switch op {
	case opAdd:
		asm.Add(d, x, y)
	case opSub:
		for i := range d {
			d[i] = x[i] - y[i]
		}
	case opMul:
		asm.Mul(d, x, y)
	case opDiv:
		for i := range d {
			d[i] = x[i] / y[i]
		}
	case opMax:
		for i := range d {
			a, b := x[i], y[i]
			if b > a {
				a = b
			}
			d[i] = a
		}
	case opCopy:
		copy(d, y)
	case opAxpy:
		if len(d) > 0 && &d[0] == &x[0] {
			asm.Axpy(alpha, y, d)
			return
		}
		for i := range d {
			d[i] = x[i] + alpha*y[i]
		}
	}
}

func binVS(op binOp, alpha float32, d, x []float32, s float32) {
	x = x[:len(d)]
	switch op {
	case opAdd:
		for i := range d {
			d[i] = x[i] + s
		}
	case opSub:
		for i := range d {
			d[i] = x[i] - s
		}
	case opMul:
		if len(d) > 0 && &d[0] == &x[0] {
			asm.Scale(s, d)
			return
		}
		for i := range d {
			d[i] = x[i] * s
		}
	case opDiv:
		for i := range d {
			d[i] = x[i] / s
		}
	case opMax:
		for i := range d {
			a := x[i]
			if s > a {
				a = s
			}
			d[i] = a
		}
	case opCopy:
		fillSlice(d, s)
	case opAxpy:
		as := alpha * s
		for i := range d {
			d[i] = x[i] + as
		}
	}
}

func binSV(op binOp, alpha float32, d []float32, s float32, y []float32) {
	y = y[:len(d)]
	switch op {
	case opAdd:
		for i := range d {
			d[i] = s + y[i]
		}
	case opSub:
		for i := range d {
			d[i] = s - y[i]
		}
	case opMul:
		for i := range d {
			d[i] = s * y[i]
		}
	case opDiv:
		for i := range d {
			d[i] = s / y[i]
		}
	case opMax:
		for i := range d {
			a := y[i]
			if s > a { // ties keep y, same value
				a = s
			}
			d[i] = a
		}
	case opCopy:
		copy(d, y)
	case opAxpy:
		for i := range d {
			d[i] = s + alpha*y[i]
		}
	}
}

// sumStrided sums n elements of y at stride s, accumulating in float64 (as
// fast as float32 in scalar code, and far more accurate on long rows).
func sumStrided(y []float32, s, n int) float32 {
	var acc float64
	if s == 1 {
		for _, v := range y[:n] {
			acc += float64(v)
		}
		return float32(acc)
	}
	for i := 0; i < n; i++ {
		acc += float64(y[i*s])
	}
	return float32(acc)
}

func maxStrided(y []float32, s, n int) float32 {
	m := float32(math.Inf(-1))
	for i := 0; i < n; i++ {
		if v := y[i*s]; v > m {
			m = v
		}
	}
	return m
}

// unOp selects a unary kernel.
type unOp uint8

const (
	opNeg unOp = iota
	opExp
	opLog
	opSqrt
	opTanh
	opSigmoid
	opRelu
	opSquare
	opQuickGELU // x·σ(1.702x), CLIP's activation
)

// unaryKernel computes d = op(s); d and s may be the same slice.
func unaryKernel(op unOp, d, s []float32) {
	s = s[:len(d)]
	switch op {
	case opNeg:
		for i := range d {
			d[i] = -s[i]
		}
	case opExp:
		// asm's vectorized Cephes expf (about 2 ulp).
		copy(d, s)
		asm.ExpInPlace(d)
	case opLog:
		for i := range d {
			d[i] = float32(math.Log(float64(s[i])))
		}
	case opSqrt:
		for i := range d {
			d[i] = float32(math.Sqrt(float64(s[i])))
		}
	case opTanh:
		for i := range d {
			d[i] = float32(math.Tanh(float64(s[i])))
		}
	case opSigmoid:
		for i := range d {
			d[i] = sigmoid(s[i])
		}
	case opRelu:
		for i := range d {
			v := s[i]
			if v < 0 {
				v = 0
			}
			d[i] = v
		}
	case opSquare:
		for i := range d {
			d[i] = s[i] * s[i]
		}
	case opQuickGELU:
		asm.QuickGELU(d, s)
	}
}

// sigmoid is 1/(1+e^-x), evaluated so that neither branch overflows.
func sigmoid(x float32) float32 {
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
}
