package autograd

import (
	"sync"

	"github.com/gocoop/gocoop/tensor"
)

// LayerNorm over the last axis; weight and bias [D] (either may be nil).
//
// Forward (tensor.LayerNorm) keeps each row's mean and rstd = 1/√(var+eps).
// With x̂ = (x − mean)·rstd and y = x̂⊙w + b, backward is (llm.c's
// derivation, per row of D elements, dn = g⊙w):
//
//	dx = rstd · (dn − mean(dn) − x̂ · mean(dn⊙x̂))
//	dw = Σ_rows g⊙x̂
//	db = Σ_rows g
func LayerNorm(x, weight, bias *Var, eps float32) *Var {
	shape := x.Value.Shape()
	if len(shape) == 0 {
		panic(&tensor.ShapeError{Op: "autograd.LayerNorm", Shapes: [][]int{shape}, Msg: "want x [..., D]"})
	}
	D := shape[len(shape)-1]
	w, b := tensor.Ones(D), tensor.Zeros(D)
	if weight != nil {
		w = weight.Value
	}
	if bias != nil {
		b = bias.Value
	}
	y, mean, rstd := tensor.LayerNorm(x.Value, w, b, eps)
	xv, nx := x.Value, x.node
	var nw, nb *node
	if weight != nil {
		nw = weight.node
	}
	if bias != nil {
		nb = bias.node
	}
	return newOp("layer_norm", y, func(g *tensor.Tensor) {
		needW := nw != nil && nw.requiresGrad
		needB := nb != nil && nb.requiresGrad
		dx, dw, db := layerNormBackward(xv, w, mean, rstd, g, nx.requiresGrad, needW, needB)
		if nx.requiresGrad {
			nx.accumulate(dx)
		}
		if needW {
			nw.accumulate(dw)
		}
		if needB {
			nb.accumulate(db)
		}
	}, x, weight, bias)
}

// lnBlockRows is how many rows layerNormBackward sums together for dw and
// db: each block of rows sums into its own float64 partials, and the blocks
// are then added in order, so the sums do not depend on how the blocks are
// split across cores.
const lnBlockRows = 32

// lnParts recycles layerNormBackward's per-block partial sums (300 KiB for
// four images of the image tower): allocated afresh on every call, their
// page faults showed up in profiles of the backward.
var lnParts = sync.Pool{New: func() any { return new([]float64) }}

// layerNormBackward computes the gradients asked for (nil for the others),
// one row of D elements at a time, rows split across cores; dw and db sum
// over rows in float64, by blocks of lnBlockRows rows.
func layerNormBackward(x, w, mean, rstd, g *tensor.Tensor, needX, needW, needB bool) (dx, dw, db *tensor.Tensor) {
	shape := x.Shape()
	D := shape[len(shape)-1]
	xd, gd, wd := x.Contiguous().Data(), g.Contiguous().Data(), w.Contiguous().Data()
	md, rd := mean.Contiguous().Data(), rstd.Contiguous().Data()
	var dxd []float32
	if needX {
		dx = tensor.New(shape...)
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
	tensor.ParallelFor(tasks, unit*D, func(_, lo, hi int) {
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
func fromFloat64(s []float64) *tensor.Tensor {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return tensor.FromSlice(out, len(out))
}

// L2Normalize divides by max(‖x‖₂, eps) along axis (torch.nn.functional.normalize).
// With d = max(‖x‖, eps) and y = x/d: where ‖x‖ > eps,
// dx = (g − y·Σ(g⊙y))/d; where the norm is clamped, d is constant and
// dx = g/eps.
func L2Normalize(a *Var, axis int, eps float32) *Var {
	ax := []int{axis}
	norm := tensor.Sqrt(tensor.Sum(tensor.Square(a.Value), ax, true))
	d := tensor.Map(norm, func(n float32) float32 { return max(n, eps) })
	out := tensor.Div(a.Value, d)
	na := a.node
	return newOp("l2_normalize", out, func(g *tensor.Tensor) {
		dot := tensor.Sum(tensor.Mul(g, out), ax, true)
		dot = tensor.Map2(dot, norm, func(dot, n float32) float32 {
			if n > eps {
				return dot
			}
			return 0
		})
		na.accumulate(tensor.Div(tensor.Sub(g, tensor.Mul(out, dot)), d))
	}, a)
}
