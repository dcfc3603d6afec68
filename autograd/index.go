package autograd

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// IndexSelect picks entries idx along dim (embedding lookup: IndexSelect(W,
// 0, ids)); backward adds each gradient slice back at its index, so repeated
// indices accumulate.
func IndexSelect(a *Var, dim int, idx []int) *Var {
	idx = append([]int(nil), idx...) // the closure must not see later changes
	shape, na := a.Value.Shape(), a.node
	return newOp("index_select", tensor.IndexSelect(a.Value, dim, idx), func(g *tensor.Tensor) {
		ga := tensor.ZerosOn(g.Device(), shape...)
		tensor.IndexAdd(ga, dim, idx, g)
		na.accumulate(ga)
	}, a)
}

// GatherRows picks, for each batch item b, row idx[b] of x [B, L, D] → [B, D] (EOT pooling).
// More trailing dims are allowed: x [B, L, ...] → [B, ...].
func GatherRows(x *Var, idx []int) *Var {
	shape := x.Value.Shape()
	if len(shape) < 2 || len(idx) != shape[0] {
		panic(&tensor.ShapeError{Op: "autograd.GatherRows", Shapes: [][]int{shape, {len(idx)}}, Msg: "want x [B, L, ...] and one index per batch item"})
	}
	B, L := shape[0], shape[1]
	rows := make([]int, B) // row b·L + idx[b] of x viewed as [B·L, ...]
	for b, i := range idx {
		if i < 0 || i >= L {
			panic(fmt.Errorf("autograd: GatherRows: index %d for batch item %d out of range [0, %d)", i, b, L))
		}
		rows[b] = b*L + i
	}
	flat := append([]int{B * L}, shape[2:]...)
	nx := x.node
	return newOp("gather_rows", tensor.IndexSelect(x.Value.Reshape(flat...), 0, rows), func(g *tensor.Tensor) {
		gx := tensor.ZerosOn(g.Device(), flat...)
		tensor.IndexAdd(gx, 0, rows, g)
		nx.accumulate(gx.Reshape(shape...))
	}, x)
}
