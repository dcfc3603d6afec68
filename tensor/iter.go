package tensor

// The strided loop engine. Every elementwise, copy, in-place and summing
// reduction runs through apply2, which
//
//  1. aligns each operand to the loop shape NumPy-style (missing leading
//     dims and size-1 dims get stride 0),
//  2. drops size-1 dims and merges adjacent dims that are contiguous for
//     all three operands, so a same-shape contiguous op becomes a single
//     row and [R, N] + [N] becomes R rows of N,
//  3. walks the outer dims with an odometer, and hands each innermost row
//     to rowKernel, whose unit-stride and scalar cases are plain slice loops
//     with no per-element index arithmetic.
//
// The index state lives in fixed arrays on the stack, so a loop allocates
// nothing for tensors of rank <= maxLoopRank (larger ranks spill to the heap).

const maxLoopRank = 8

// operand is one side of a strided loop: storage, offset, and the operand's
// own shape and strides (aligned to the loop shape by apply2).
type operand struct {
	data    []float32
	off     int
	shape   []int // nil for a scalar broadcast to everything
	strides []int
}

// apply2 computes d = op(x, y) elementwise over shape. x and y are
// broadcast to shape; d must have exactly shape (it may alias x, which is how
// in-place ops and reductions accumulate). A d stride of 0 means accumulate:
// for opAdd and opMax the whole row of y is folded into one d element.
func apply2(op binOp, alpha float32, shape []int, d, x, y operand) {
	var shBuf [maxLoopRank]int
	var stBuf [3][maxLoopRank]int
	sh := shBuf[:0]
	ds, xs, ys := stBuf[0][:0], stBuf[1][:0], stBuf[2][:0]
	r := len(shape)
	for i := 0; i < r; i++ {
		n := shape[i]
		if n == 0 {
			return
		}
		if n == 1 {
			continue
		}
		a, b, c := alignedStride(d, i, r), alignedStride(x, i, r), alignedStride(y, i, r)
		if k := len(sh) - 1; k >= 0 && ds[k] == a*n && xs[k] == b*n && ys[k] == c*n {
			sh[k] *= n
			ds[k], xs[k], ys[k] = a, b, c
			continue
		}
		sh = append(sh, n)
		ds, xs, ys = append(ds, a), append(xs, b), append(ys, c)
	}
	if len(sh) == 0 {
		rowKernel(op, alpha, 1, d.data[d.off:], 0, x.data[x.off:], 0, y.data[y.off:], 0)
		return
	}
	last := len(sh) - 1
	n := sh[last]
	dsi, xsi, ysi := ds[last], xs[last], ys[last]
	if last == 0 {
		rowKernel(op, alpha, n, d.data[d.off:], dsi, x.data[x.off:], xsi, y.data[y.off:], ysi)
		return
	}
	var ctrBuf [maxLoopRank]int
	ctr := ctrBuf[:0]
	for range last {
		ctr = append(ctr, 0)
	}
	do, xo, yo := d.off, x.off, y.off
	for {
		rowKernel(op, alpha, n, d.data[do:], dsi, x.data[xo:], xsi, y.data[yo:], ysi)
		// Odometer step over the outer dims.
		k := last - 1
		for ; k >= 0; k-- {
			ctr[k]++
			do += ds[k]
			xo += xs[k]
			yo += ys[k]
			if ctr[k] < sh[k] {
				break
			}
			do -= ds[k] * sh[k]
			xo -= xs[k] * sh[k]
			yo -= ys[k] * sh[k]
			ctr[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// alignedStride is o's stride for dim i of a rank-r loop (0 where o is
// broadcast).
func alignedStride(o operand, i, r int) int {
	j := i - (r - len(o.shape))
	if j < 0 || o.shape[j] == 1 {
		return 0
	}
	return o.strides[j]
}

// walkRows calls fn for every row along the last dim of shape, with the
// offsets of up to two strided operands. Per-row callbacks are fine; the row
// body is the caller's tight loop.
func walkRows(shape []int, s0, s1 []int, o0, o1 int, fn func(o0, o1 int)) {
	r := len(shape)
	if numel(shape) == 0 {
		return
	}
	if r <= 1 {
		fn(o0, o1)
		return
	}
	ctr := make([]int, r-1)
	for {
		fn(o0, o1)
		k := r - 2
		for ; k >= 0; k-- {
			ctr[k]++
			o0 += s0[k]
			o1 += s1[k]
			if ctr[k] < shape[k] {
				break
			}
			o0 -= s0[k] * shape[k]
			o1 -= s1[k] * shape[k]
			ctr[k] = 0
		}
		if k < 0 {
			return
		}
	}
}
