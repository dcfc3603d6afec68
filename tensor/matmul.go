package tensor

import (
	"fmt"

	"github.com/gocoop/gocoop/asm"
)

// MatMul returns a [..., M, K] · b [..., K, N] → [..., M, N] with NumPy
// broadcasting of the batch dims. Both operands must have rank >= 2
// (callers reshape vectors).
func MatMul(a, b *Tensor) *Tensor { return matmul("MatMul", a, b, false, false) }

// MatMulT is MatMul with op(a) = aᵀ (last two dims) when transA and
// op(b) = bᵀ when transB.
//
// No operand is copied when its last two dims have a unit stride in either
// dim (a contiguous tensor, a transposed view, a slice of rows or columns):
// the layout is absorbed into asm's trans flag and leading dimension.
// Batch dims are passed to asm.SgemmStrided as strides (0 for a broadcast
// operand); batch dims that cannot be merged into one stride are looped
// over. A non-batched b with a row-contiguous a (x·Wᵀ in Linear) becomes a
// single Sgemm with M·batch rows.
func MatMulT(a, b *Tensor, transA, transB bool) *Tensor {
	return matmul("MatMulT", a, b, transA, transB)
}

func matmul(name string, a, b *Tensor, transA, transB bool) *Tensor {
	na, nb := len(a.shape), len(b.shape)
	if na < 2 || nb < 2 {
		panic(&ShapeError{Op: name, Shapes: [][]int{a.Shape(), b.Shape()}, Msg: "need rank >= 2 (reshape vectors to matrices)"})
	}
	m, k := a.shape[na-2], a.shape[na-1]
	if transA {
		m, k = k, m
	}
	k2, n := b.shape[nb-2], b.shape[nb-1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		panic(&ShapeError{Op: name, Shapes: [][]int{a.Shape(), b.Shape()},
			Msg: fmt.Sprintf("have mismatched inner dims %d and %d (transA=%v, transB=%v)", k, k2, transA, transB)})
	}
	var shapeBuf [maxLoopRank + 2]int
	bs, ok := broadcastInto(shapeBuf[:0], a.shape[:na-2], b.shape[:nb-2])
	if !ok {
		panic(&ShapeError{Op: name, Shapes: [][]int{a.Shape(), b.Shape()}, Msg: "have batch dims that are not broadcastable"})
	}
	if !a.onHost() || !b.onHost() {
		return matmulDevice(name, a, b, transA, transB, bs, m, n, k)
	}
	out := empty(append(bs, m, n)...) // every element written by the sgemm (beta 0)
	if out.Numel() == 0 || k == 0 {
		clear(out.data)
		return out
	}
	bs = out.shape[:len(bs)]
	// Float16 storage (half.go): b, a frozen weight, is read by the sgemm
	// packing as it is; a, and a b with batch dims, are widened first.
	if a.DType() == Float16 {
		a = a.Float()
	}
	if b.half != nil && numel(b.shape[:nb-2]) > 1 {
		b = b.Float()
	}
	if b.panels != nil && (nb > 2 || !transB) {
		b = b.Float() // the panels hold bᵀ for x·bᵀ only
	}
	ta, lda, ok := matLayout(a)
	if !ok {
		a = a.Clone()
		ta, lda, _ = matLayout(a)
	}
	tb, ldb, ok := matLayout(b)
	if !ok {
		b = b.Clone()
		tb, ldb, _ = matLayout(b)
	}
	ta = ta != transA
	tb = tb != transB
	ad, cd := a.data[a.offset:], out.data
	var bd []float32
	var bh []uint16
	hp := b.panels // contiguous [n, k] read as bᵀ: tb is true, ldb k
	if b.half != nil {
		bh = b.half[b.offset:]
	} else {
		bd = b.data[b.offset:]
	}
	one := func(m int, a []float32, c []float32) { // one product with b
		switch {
		case hp != nil:
			asm.SgemmHalfPanels(ta, m, 1, a, lda, hp, 0, c, n)
		case bh != nil:
			asm.SgemmHalfB(ta, tb, m, n, k, 1, a, lda, bh, ldb, 0, c, n)
		default:
			asm.Sgemm(ta, tb, m, n, k, 1, a, lda, bd, ldb, 0, c, n)
		}
	}

	// Coalesce the batch dims of a, b and c.
	r := len(bs)
	var shBuf, saBuf, sbBuf, scBuf [maxLoopRank]int
	sh, sa, sb, sc := shBuf[:0], saBuf[:0], sbBuf[:0], scBuf[:0]
	for i := 0; i < r; i++ {
		d := bs[i]
		if d == 1 {
			continue
		}
		x, y, z := batchStride(a, i, r), batchStride(b, i, r), out.strides[i]
		if j := len(sh) - 1; j >= 0 && sa[j] == x*d && sb[j] == y*d && sc[j] == z*d {
			sh[j] *= d
			sa[j], sb[j], sc[j] = x, y, z
			continue
		}
		sh, sa, sb, sc = append(sh, d), append(sa, x), append(sb, y), append(sc, z)
	}
	switch {
	case len(sh) == 0:
		one(m, ad, cd)
		return out
	case len(sh) == 1 && sb[0] == 0 && !ta && sa[0] == m*lda && sc[0] == m*n:
		// b is shared and a's rows run on across the batch: one tall product.
		one(m*sh[0], ad, cd)
		return out
	}
	if hp != nil { // b shared by a batch that is not one tall product: widen it
		bd = b.Float().data
	}
	if bh != nil { // b shared by a batch that is not one tall product: widen its extent
		rows, cols := k, n
		if tb {
			rows, cols = n, k
		}
		bd = make([]float32, (rows-1)*ldb+cols)
		asm.WidenHalf(bd, bh[:len(bd)])
	}
	last := len(sh) - 1
	cnt := sh[last]
	var ctrBuf [maxLoopRank]int
	ctr := ctrBuf[:0]
	for range last {
		ctr = append(ctr, 0)
	}
	ao, bo, co := 0, 0, 0
	for {
		asm.SgemmStrided(cnt, ta, tb, m, n, k, 1, ad[ao:], lda, sa[last], bd[bo:], ldb, sb[last], 0, cd[co:], n, sc[last])
		j := last - 1
		for ; j >= 0; j-- {
			ctr[j]++
			ao, bo, co = ao+sa[j], bo+sb[j], co+sc[j]
			if ctr[j] < sh[j] {
				break
			}
			ao, bo, co = ao-sa[j]*sh[j], bo-sb[j]*sh[j], co-sc[j]*sh[j]
			ctr[j] = 0
		}
		if j < 0 {
			return out
		}
	}
}

// matLayout describes the last two dims (r×c) of t as a BLAS operand: either
// row-major (unit column stride, leading dim = row stride) or transposed
// (unit row stride, leading dim = column stride). ok is false when neither
// holds (e.g. a stride-0 expanded matrix or a doubly strided slice).
func matLayout(t *Tensor) (trans bool, ld int, ok bool) {
	nd := len(t.shape)
	r, c := t.shape[nd-2], t.shape[nd-1]
	sr, sc := t.strides[nd-2], t.strides[nd-1]
	if (sc == 1 || c == 1) && (r == 1 || sr >= max(c, 1)) {
		if r == 1 {
			return false, max(c, 1), true
		}
		return false, sr, true
	}
	if (sr == 1 || r == 1) && (c == 1 || sc >= max(r, 1)) {
		if c == 1 {
			return true, max(r, 1), true
		}
		return true, sc, true
	}
	return false, 0, false
}

// batchStride is t's stride for batch dim i of a rank-r batch shape (0 where
// t is broadcast).
func batchStride(t *Tensor, i, r int) int {
	tb := len(t.shape) - 2
	j := i - (r - tb)
	if j < 0 || t.shape[j] == 1 {
		return 0
	}
	return t.strides[j]
}

// matmulDevice runs a product on a backend, one Sgemm per batch item. Both
// operands must be on the same device and need no relayout.
func matmulDevice(name string, a, b *Tensor, transA, transB bool, bs []int, m, n, k int) *Tensor {
	if a.Device() != b.Device() {
		panic(&DeviceError{Op: name, Device: a.Device(), Msg: fmt.Sprintf("operands on different devices (%v and %v); move one with To", a.Device(), b.Device())})
	}
	dev := a.Device()
	be := backendFor(dev)
	if be == nil {
		panic(&DeviceError{Op: name, Device: dev, Msg: "no backend registered"})
	}
	ta, lda, okA := matLayout(a)
	tb, ldb, okB := matLayout(b)
	if !okA || !okB {
		panic(&DeviceError{Op: name, Device: dev, Msg: "operand layout needs a copy, which is not supported on devices"})
	}
	ta, tb = ta != transA, tb != transB
	shape := append(cloneInts(bs), m, n)
	cnt := numel(shape)
	buf, err := deviceAlloc(be, cnt)
	if err != nil {
		panic(&DeviceError{Op: name, Device: dev, Msg: "allocating output: " + err.Error()})
	}
	out := &Tensor{shape: shape, strides: contiguousStrides(shape), dev: dev, buf: buf}
	if cnt == 0 || k == 0 {
		return out
	}
	r := len(bs)
	if bb, ok := be.(BatchedSgemm); ok && numel(bs) > 1 {
		if sa, sb, ok := uniformBatch(a, b, bs); ok {
			if err := bb.SgemmStridedBatched(ta, tb, m, n, k, 1, a.buf, a.offset, lda, sa, b.buf, b.offset, ldb, sb, 0, buf, 0, n, m*n, numel(bs)); err != nil {
				panic(&DeviceError{Op: name, Device: dev, Msg: "sgemm: " + err.Error()})
			}
			return out
		}
	}
	idx := make([]int, r)
	for item := 0; item < numel(bs); item++ {
		ao, bo, co := a.offset, b.offset, item*m*n
		rem := item
		for i := r - 1; i >= 0; i-- {
			idx[i] = rem % bs[i]
			rem /= bs[i]
			ao += idx[i] * batchStride(a, i, r)
			bo += idx[i] * batchStride(b, i, r)
		}
		if err := be.Sgemm(ta, tb, m, n, k, 1, a.buf, ao, lda, b.buf, bo, ldb, 0, buf, co, n); err != nil {
			panic(&DeviceError{Op: name, Device: dev, Msg: "sgemm: " + err.Error()})
		}
	}
	return out
}
