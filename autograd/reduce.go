package autograd

import "github.com/gocoop/gocoop/tensor"

// Sum reduces a over axes (negative allowed; nil or empty means all).
// Backward broadcasts the gradient back over the reduced axes.
func Sum(a *Var, axes []int, keepDim bool) *Var {
	shape := a.Value.Shape()
	keep, _ := keptShape("Sum", shape, axes)
	na := a.node
	return newOp("sum", tensor.Sum(a.Value, axes, keepDim), func(g *tensor.Tensor) {
		na.accumulate(g.Reshape(keep...).Expand(shape...).Contiguous())
	}, a)
}

// Mean averages a over axes (negative allowed; nil or empty means all).
// Backward broadcasts the gradient divided by the count of reduced elements.
func Mean(a *Var, axes []int, keepDim bool) *Var {
	shape := a.Value.Shape()
	keep, count := keptShape("Mean", shape, axes)
	na := a.node
	return newOp("mean", tensor.Mean(a.Value, axes, keepDim), func(g *tensor.Tensor) {
		na.accumulate(tensor.MulScalar(g.Reshape(keep...).Expand(shape...), 1/float32(count)))
	}, a)
}

// keptShape returns shape with the reduced axes set to 1 (the keepDim shape of
// the result) and the number of elements reduced into each output.
func keptShape(op string, shape, axes []int) (keep []int, count int) {
	keep = append([]int(nil), shape...)
	count = 1
	if len(axes) == 0 {
		for i := range keep {
			count *= keep[i]
			keep[i] = 1
		}
		return keep, count
	}
	for _, ax := range axes {
		i := normAxis(op, ax, len(shape))
		if keep[i] != 1 { // a repeated axis counts once
			count *= keep[i]
			keep[i] = 1
		}
	}
	return keep, count
}
