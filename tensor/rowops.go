package tensor

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/asm"
)

// Row ops: softmax, log-softmax and layer norm, run row by row through
// asm's vectorized row helpers. The last axis of a contiguous tensor is the
// fast path (rows are slices); any other axis is gathered into a scratch row.

// Softmax returns exp(x - max) / Σ exp(x - max) along axis.
func Softmax(t *Tensor, axis int) *Tensor {
	return rowOp("Softmax", t, axis, func(r, _ []float32) { asm.SoftmaxRow(r) })
}

// LogSoftmax returns x - max - log Σ exp(x - max) along axis.
func LogSoftmax(t *Tensor, axis int) *Tensor {
	return rowOp("LogSoftmax", t, axis, func(r, scratch []float32) {
		if len(r) == 0 {
			return
		}
		m := float32(math.Inf(-1))
		for _, v := range r {
			if v > m {
				m = v
			}
		}
		if math.IsInf(float64(m), -1) {
			return // all -Inf: leave -Inf (softmax is undefined)
		}
		for i := range r {
			r[i] -= m
		}
		e := scratch[:len(r)]
		copy(e, r)
		asm.ExpInPlace(e)
		lse := float32(math.Log(float64(sumStrided(e, 1, len(e)))))
		for i := range r {
			r[i] -= lse
		}
	})
}

// rowOp copies t into a fresh contiguous output and runs f in place on every
// row along axis; scratch is a row-sized buffer private to the goroutine.
// Rows of the last axis are spread across cores for large tensors.
func rowOp(name string, t *Tensor, axis int, f func(row, scratch []float32)) *Tensor {
	if !t.onHost() {
		return deviceRows(name, t, axis)
	}
	t.float32Only(name)
	a := t.axis(name, axis)
	out := empty(t.shape...)
	if out.Numel() == 0 {
		return out
	}
	last := len(t.shape) - 1
	n := t.shape[a]
	if a == last {
		if t.IsContiguous() {
			copy(out.data, t.data[t.offset:])
		} else {
			out.CopyFrom(t)
		}
		parallelFor(len(out.data)/n, 4*n, func(lo, hi int) {
			var scratch []float32
			if name == "LogSoftmax" {
				scratch = make([]float32, n)
			}
			for r := lo; r < hi; r++ {
				f(out.data[r*n:(r+1)*n], scratch)
			}
		})
		return out
	}
	// Move axis last in both views and gather each strided row.
	perm := make([]int, 0, len(t.shape))
	for i := range t.shape {
		if i != a {
			perm = append(perm, i)
		}
	}
	perm = append(perm, a)
	tv, ov := t.Permute(perm...), out.Permute(perm...)
	ts, os := tv.strides[last], ov.strides[last]
	row, scratch := make([]float32, n), make([]float32, n)
	walkRows(tv.shape, tv.strides, ov.strides, tv.offset, ov.offset, func(ti, oi int) {
		for i := range row {
			row[i] = t.data[ti+i*ts]
		}
		f(row, scratch)
		for i, v := range row {
			out.data[oi+i*os] = v
		}
	})
	return out
}

// LayerNorm normalizes over the last axis:
// y = (x - mean)·rstd·weight + bias with the biased variance
// var = Σ(x-mean)²/D and rstd = 1/√(var+eps). weight and bias have shape [D];
// either may be nil (1 and 0). mean and rstd have shape t.shape[:-1] (what
// the backward pass needs).
func LayerNorm(t, weight, bias *Tensor, eps float32) (y, mean, rstd *Tensor) {
	if !t.onHost() {
		return deviceLayerNorm(t, weight, bias, eps)
	}
	t.float32Only("LayerNorm")
	if len(t.shape) == 0 {
		panic(&ShapeError{Op: "LayerNorm", Shapes: [][]int{t.Shape()}, Msg: "has no last axis"})
	}
	d := t.shape[len(t.shape)-1]
	gamma := affineParam("LayerNorm", t, weight, d, 1)
	beta := affineParam("LayerNorm", t, bias, d, 0)
	y = empty(t.shape...)
	mean = New(t.shape[:len(t.shape)-1]...)
	rstd = New(t.shape[:len(t.shape)-1]...)
	if y.Numel() == 0 {
		return y, mean, rstd
	}
	src := y.data
	if t.IsContiguous() {
		src = t.data[t.offset : t.offset+y.Numel()]
	} else {
		y.CopyFrom(t) // normalize in place
	}
	parallelFor(len(mean.data), 4*d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			mean.data[r], rstd.data[r] = asm.LayerNormRow(y.data[r*d:(r+1)*d], src[r*d:(r+1)*d], gamma, beta, eps)
		}
	})
	return y, mean, rstd
}

// affineParam returns p's contiguous data (shape [d]) or a constant row.
func affineParam(op string, t, p *Tensor, d int, def float32) []float32 {
	if p == nil {
		row := make([]float32, d)
		if def != 0 {
			fillSlice(row, def)
		}
		return row
	}
	p.host(op)
	if len(p.shape) != 1 || p.shape[0] != d {
		panic(&ShapeError{Op: op, Shapes: [][]int{t.Shape(), p.Shape()},
			Msg: fmt.Sprintf("are incompatible: weight and bias must be [%d]", d)})
	}
	return p.Contiguous().Data()
}
