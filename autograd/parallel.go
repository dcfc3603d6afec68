package autograd

import "github.com/gocoop/gocoop/tensor"

// A private helper for the hot elementwise paths (activations of every
// transformer layer, forward and backward): one pass over contiguous data,
// split across cores, with the loop inside the kernel rather than a call per
// element as tensor.Map2 makes. Chunks start at multiples of 16 elements
// (tensor.ParallelForVec), so kernels built on asm's vector helpers give the
// same bits for any number of cores.

// zip returns kernel(a, b) elementwise for a and b of the same shape; kernel
// fills out[i] from a[i], b[i] and is called on chunks in parallel.
func zip(a, b *tensor.Tensor, kernel func(out, a, b []float32)) *tensor.Tensor {
	if !tensor.SameShape(a.Shape(), b.Shape()) {
		panic(&tensor.ShapeError{Op: "autograd.zip", Shapes: [][]int{a.Shape(), b.Shape()}, Msg: "shapes differ"})
	}
	hostOnly("elementwise backward", a)
	out := tensor.New(a.Shape()...)
	od, ad, bd := out.Data(), a.Contiguous().Data(), b.Contiguous().Data()
	tensor.ParallelForVec(len(od), 1, func(_, lo, hi int) { kernel(od[lo:hi], ad[lo:hi], bd[lo:hi]) })
	return out
}
