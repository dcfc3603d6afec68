package autograd

import "github.com/gocoop/gocoop/tensor"

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
	var w, b *tensor.Tensor // nil: ones and zeros
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
		dx, dw, db := tensor.LayerNormBackward(xv, w, mean, rstd, g, nx.requiresGrad, needW, needB)
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

// L2Normalize divides by max(‖x‖₂, eps) along axis (torch.nn.functional.normalize).
// With d = max(‖x‖, eps) and y = x/d: where ‖x‖ > eps,
// dx = (g − y·Σ(g⊙y))/d; where the norm is clamped, d is constant and
// dx = g/eps.
func L2Normalize(a *Var, axis int, eps float32) *Var {
	ax := []int{axis}
	norm := tensor.Sqrt(tensor.Sum(tensor.Square(a.Value), ax, true))
	d := tensor.MaximumScalar(norm, eps)
	out := tensor.Div(a.Value, d)
	na := a.node
	return newOp("l2_normalize", out, func(g *tensor.Tensor) {
		dot := tensor.Sum(tensor.Mul(g, out), ax, true)
		if onDevice(dot) { // the same mask as a product: dot·1 where ‖x‖ > eps, dot·0 elsewhere
			dot = tensor.Mul(dot, tensor.GreaterThan(norm, eps))
		} else {
			dot = tensor.Map2(dot, norm, func(dot, n float32) float32 {
				if n > eps {
					return dot
				}
				return 0
			})
		}
		na.accumulate(tensor.Div(tensor.Sub(g, tensor.Mul(out, dot)), d))
	}, a)
}
