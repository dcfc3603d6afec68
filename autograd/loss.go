package autograd

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// CrossEntropy: mean over rows of −log softmax(logits)[label]; logits [N, C].
// A label outside [0, C) panics with an error naming it, its row and C
// (recover it with tensor.Catch).
//
// With p = softmax(logits), d loss/d logits = (p − onehot(label)) / N.
func CrossEntropy(logits *Var, labels []int) *Var {
	shape := logits.Value.Shape()
	if len(shape) != 2 || shape[0] != len(labels) {
		panic(&tensor.ShapeError{Op: "autograd.CrossEntropy", Shapes: [][]int{shape, {len(labels)}}, Msg: "want logits [N, C] and N labels"})
	}
	N, C := shape[0], shape[1]
	for i, l := range labels {
		if l < 0 || l >= C {
			panic(fmt.Errorf("autograd: CrossEntropy: label %d at row %d out of range [0, %d) for C = %d classes", l, i, C, C))
		}
	}
	labels = append([]int(nil), labels...)
	nl := logits.node
	if lv := logits.Value; onDevice(lv) {
		// The fused kernels: per-row losses (averaged on the device) and
		// (p − onehot)/N times the upstream scalar.
		loss := tensor.Mean(tensor.CrossEntropyRows(lv, labels), nil, false)
		return newOp("cross_entropy", loss, func(g *tensor.Tensor) {
			nl.accumulate(tensor.Mul(tensor.CrossEntropyGrad(lv, labels, 1/float32(N)), g))
		}, logits)
	}
	logp := tensor.LogSoftmax(logits.Value, -1).Contiguous()
	lp := logp.Data()
	var sum float64
	for i, l := range labels {
		sum -= float64(lp[i*C+l])
	}
	loss := tensor.Scalar(float32(sum / float64(N)))
	return newOp("cross_entropy", loss, func(g *tensor.Tensor) {
		grad := tensor.Exp(logp) // p, a fresh [N, C]
		gd := grad.Data()
		for i, l := range labels {
			gd[i*C+l] -= 1
		}
		grad.ScaleInPlace(g.Item() / float32(N))
		nl.accumulate(grad)
	}, logits)
}
