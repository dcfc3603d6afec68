package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/gocoop/gocoop/asm"
)

// The model ops whose backward (or fused form) the autograd ops call: layer
// norm's backward, the scaled and masked softmax of attention, and
// cross-entropy over rows. Each has its CPU code here and dispatches device
// tensors to a Kernels method (device_ops.go), as the forward ops do.

// LayerNormBackward returns the gradients of LayerNorm (y = x̂⊙w + b over
// the last axis, x̂ = (x − mean)·rstd) for the upstream gradient g, from
// the forward's mean and rstd; w may be nil (ones). Only the gradients
// asked for are returned (nil for the others). With dn = g⊙w, per row of D
// elements (llm.c's derivation):
//
//	dx = rstd · (dn − mean(dn) − x̂ · mean(dn⊙x̂))
//	dw = Σ_rows g⊙x̂
//	db = Σ_rows g
//
// On the CPU, rows are split across cores; dw and db sum over rows in
// float64, by blocks of lnBlockRows rows, so the results do not depend on
// the number of cores.
func LayerNormBackward(x, w, mean, rstd, g *Tensor, needX, needW, needB bool) (dx, dw, db *Tensor) {
	if len(x.shape) == 0 {
		panic(&ShapeError{Op: "LayerNormBackward", Shapes: [][]int{x.Shape()}, Msg: "has no last axis"})
	}
	if !x.onHost() {
		return deviceLayerNormBackward(x, w, mean, rstd, g, needX, needW, needB)
	}
	shape := x.Shape()
	D := shape[len(shape)-1]
	xd, gd := x.Contiguous().Data(), g.Contiguous().Data()
	wd := affineParam("LayerNormBackward", x, w, D, 1)
	md, rd := mean.Contiguous().Data(), rstd.Contiguous().Data()
	var dxd []float32
	if needX {
		dx = New(shape...)
		dxd = dx.Data()
	}
	needParams := needW || needB
	rows := len(md)
	blocks := (rows + lnBlockRows - 1) / lnBlockRows
	var parts []float64 // block b: Σ g⊙x̂ at parts[2bD:], Σ g at parts[(2b+1)D:]
	if needParams {
		buf := lnParts.Get().(*[]float64)
		defer lnParts.Put(buf)
		if cap(*buf) < 2*blocks*D {
			*buf = make([]float64, 2*blocks*D)
		}
		parts = (*buf)[:2*blocks*D]
		clear(parts)
	}
	// Cores take whole blocks when there are dw and db to sum, and single
	// rows (finer balance: rows are independent) when weight and bias are
	// frozen.
	unit, tasks := 1, rows
	if needParams {
		unit, tasks = lnBlockRows, blocks
	}
	ParallelFor(tasks, unit*D, func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			var dwPart, dbPart []float64 // nil when weight and bias are frozen
			if needParams {
				dwPart, dbPart = parts[2*b*D:][:D], parts[(2*b+1)*D:][:D]
			}
			for i := b * unit; i < min(rows, (b+1)*unit); i++ {
				var dxr []float32
				if needX {
					dxr = dxd[i*D : (i+1)*D]
				}
				layerNormBackwardRow(dxr, dwPart, dbPart, xd[i*D:(i+1)*D], gd[i*D:(i+1)*D], wd[:D], md[i], rd[i])
			}
		}
	})
	if !needParams {
		return dx, nil, nil
	}
	dw64, db64 := make([]float64, D), make([]float64, D)
	for b := range blocks {
		for j := range D {
			dw64[j] += parts[2*b*D+j]
			db64[j] += parts[(2*b+1)*D+j]
		}
	}
	if needW {
		dw = fromFloat64(dw64)
	}
	if needB {
		db = fromFloat64(db64)
	}
	return dx, dw, db
}

// lnBlockRows is how many rows LayerNormBackward sums together for dw and
// db: each block of rows sums into its own float64 partials, and the blocks
// are then added in order, so the sums do not depend on how the blocks are
// split across cores.
const lnBlockRows = 32

// lnParts recycles LayerNormBackward's per-block partial sums (300 KiB for
// four images of the image tower): allocated afresh on every call, their
// page faults showed up in profiles of the backward.
var lnParts = sync.Pool{New: func() any { return new([]float64) }}

// layerNormBackwardRow sets dx (unless nil) for one row x with upstream
// gradient g, weight w, mean m and rstd r, and adds the row's g⊙x̂ and g to
// dw and db (unless nil).
func layerNormBackwardRow(dx []float32, dw, db []float64, x, g, w []float32, m, r float32) {
	n := len(w)
	x, g = x[:n], g[:n] // lengths the compiler can see: no bounds checks below
	var sumDn, sumDnXhat float32
	if dw != nil {
		dw, db = dw[:n], db[:n]
		for j, wj := range w {
			xhat := (x[j] - m) * r
			dn := g[j] * wj
			sumDn += dn
			sumDnXhat += dn * xhat
			dw[j] += float64(g[j] * xhat)
			db[j] += float64(g[j])
		}
	} else {
		for j, wj := range w {
			xhat := (x[j] - m) * r
			dn := g[j] * wj
			sumDn += dn
			sumDnXhat += dn * xhat
		}
	}
	if dx == nil {
		return
	}
	dx = dx[:n]
	meanDn, meanDnXhat := sumDn/float32(n), sumDnXhat/float32(n)
	for j, wj := range w {
		xhat := (x[j] - m) * r
		dx[j] = r * (g[j]*wj - meanDn - xhat*meanDnXhat)
	}
}

// fromFloat64 rounds a float64 accumulator into a new 1-D tensor.
func fromFloat64(s []float64) *Tensor {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return FromSlice(out, len(out))
}

// MaskedSoftmax returns softmax(scale·t + mask) along the last axis of t
// [..., Lq, Lk], attention's probabilities from its scores: with causal,
// query i (the second-to-last axis) sees keys j ≤ i and the others get −∞
// (top-left aligned, as PyTorch's is_causal). Per row: asm.Scale, the mask,
// asm.SoftmaxRow (autograd.AttentionProbs' forward on the CPU).
func MaskedSoftmax(t *Tensor, scale float32, causal bool) *Tensor {
	if len(t.shape) < 2 {
		panic(&ShapeError{Op: "MaskedSoftmax", Shapes: [][]int{t.Shape()}, Msg: "want scores [..., Lq, Lk]"})
	}
	if !t.onHost() {
		return deviceMaskedSoftmax(t, scale, causal)
	}
	return MaskedSoftmaxInPlace(t.Contiguous().Clone(), scale, causal)
}

// MaskedSoftmaxInPlace is MaskedSoftmax writing into t, which it returns,
// on the CPU (t must be contiguous: the fresh scores of a product, which
// attention does not keep); on a device it returns MaskedSoftmax(t).
func MaskedSoftmaxInPlace(t *Tensor, scale float32, causal bool) *Tensor {
	if len(t.shape) < 2 {
		panic(&ShapeError{Op: "MaskedSoftmaxInPlace", Shapes: [][]int{t.Shape()}, Msg: "want scores [..., Lq, Lk]"})
	}
	if !t.onHost() {
		return deviceMaskedSoftmax(t, scale, causal)
	}
	out := t
	data := out.Data() // panics unless contiguous
	lq, lk := t.shape[len(t.shape)-2], t.shape[len(t.shape)-1]
	if lq == 0 || lk == 0 {
		return out
	}
	ninf := float32(math.Inf(-1))
	parallelFor(len(data)/lk, 4*lk, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := data[r*lk : (r+1)*lk]
			asm.Scale(scale, row)
			if causal {
				for j := r%lq + 1; j < lk; j++ {
					row[j] = ninf
				}
			}
			asm.SoftmaxRow(row)
		}
	})
	return out
}

// checkLabels validates labels against logits [N, C] and returns N, C.
func checkLabels(op string, logits *Tensor, labels []int) (n, c int) {
	if len(logits.shape) != 2 || logits.shape[0] != len(labels) {
		panic(&ShapeError{Op: op, Shapes: [][]int{logits.Shape(), {len(labels)}}, Msg: "want logits [N, C] and N labels"})
	}
	n, c = logits.shape[0], logits.shape[1]
	for i, l := range labels {
		if l < 0 || l >= c {
			panic(fmt.Errorf("tensor.%s: label %d at row %d out of range [0, %d) for C = %d classes", op, l, i, c, c))
		}
	}
	return n, c
}

// CrossEntropyRows returns the per-row losses −log softmax(logits)[label],
// logits [N, C] → [N] (autograd.CrossEntropy averages them).
func CrossEntropyRows(logits *Tensor, labels []int) *Tensor {
	n, c := checkLabels("CrossEntropyRows", logits, labels)
	if !logits.onHost() {
		k := deviceKernels("CrossEntropyRows", logits)
		x := logits.Contiguous()
		out := deviceNew("CrossEntropyRows", k, x.Device(), []int{n})
		if n > 0 && c > 0 {
			deviceFail("CrossEntropyRows", x.dev, k.CrossEntropy(n, c, out.buf, x.span(), labels))
		}
		return out
	}
	lp := LogSoftmax(logits, -1).Data()
	out := New(n)
	for i, l := range labels {
		out.data[i] = -lp[i*c+l]
	}
	return out
}

// CrossEntropyGrad returns (softmax(logits) − onehot(labels))·scale, the
// gradient of scale·Σ rows' cross-entropy with respect to logits [N, C].
func CrossEntropyGrad(logits *Tensor, labels []int, scale float32) *Tensor {
	n, c := checkLabels("CrossEntropyGrad", logits, labels)
	if !logits.onHost() {
		k := deviceKernels("CrossEntropyGrad", logits)
		x := logits.Contiguous()
		out := deviceNew("CrossEntropyGrad", k, x.Device(), x.shape)
		if n > 0 && c > 0 {
			deviceFail("CrossEntropyGrad", x.dev, k.CrossEntropyBackward(n, c, scale, out.buf, x.span(), labels))
		}
		return out
	}
	out := Softmax(logits, -1)
	for i, l := range labels {
		out.data[i*c+l] -= 1
	}
	binVS(opMul, 0, out.data, out.data, scale)
	return out
}
