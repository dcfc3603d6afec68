// Package asm holds GoCoOp's compute kernels: a packed, cache-blocked sgemm
// with AVX-512 and AVX2+FMA (amd64) and NEON (arm64) micro-kernels in Go
// assembly, vectorized row helpers, run-time tier dispatch and a pure-Go
// fallback for every kernel (docs/kernels.md §1–3).
//
// Kernels know nothing of tensors: they take slices, sizes and leading
// dimensions (row strides), all row-major.
package asm

import (
	"runtime"
	"sync/atomic"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices.
//
// op(A) is M×K and op(B) is K×N. When transA is false, element (i,p) of op(A)
// is a[i*lda+p]; when true it is a[p*lda+i]. Likewise for B with ldb.
// C is M×N with element (i,j) at c[i*ldc+j]. When beta is 0, C is not read
// (NaNs in C do not propagate). Large products run on all cores
// (runtime.GOMAXPROCS(0)); the result does not depend on the core count.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, len(b), ldb, c, ldc)
	gemm(current.Load().gemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, runtime.GOMAXPROCS(0))
}

// SgemmHalfB is Sgemm with B stored as IEEE binary16 (frozen weights kept
// in a half-precision checkpoint's precision): B is widened to float32
// exactly as it is packed for the micro-kernels, so C is, bit for bit,
// Sgemm's with the widened B (WidenHalf), and all arithmetic is float32.
func SgemmHalfB(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, len(b), ldb, c, ldc)
	gemmHalfB(current.Load().gemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, runtime.GOMAXPROCS(0))
}

// SgemmStrided runs batch independent products
// C_i = alpha·op(A_i)·op(B_i) + beta·C_i with A_i = a[i*strideA:],
// B_i = b[i*strideB:], C_i = c[i*strideC:]. A stride of 0 broadcasts that
// operand over the batch. Small products are spread across cores by batch
// item (attention heads), large ones inside each product.
func SgemmStrided(batch int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	if batch <= 0 || m <= 0 || n <= 0 {
		return
	}
	cfg := current.Load().gemm
	for i := 0; i < batch; i++ {
		checkGemm(transA, transB, m, n, k, a[i*strideA:], lda, len(b)-i*strideB, ldb, c[i*strideC:], ldc)
	}
	procs := runtime.GOMAXPROCS(0)
	one := func(i, threads int) {
		gemm(cfg, transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc, threads)
	}
	if batch == 1 || procs == 1 || m*n*k > stridedSplitMNK {
		for i := 0; i < batch; i++ {
			one(i, procs)
		}
		return
	}
	// Items are handed out one at a time; each runs on one core. Results
	// equal those of Sgemm on each item (the single-product split does not
	// change any element's summation).
	var next atomic.Int64
	parallel(min(procs, batch), func(int) {
		for i := int(next.Add(1) - 1); i < batch; i = int(next.Add(1) - 1) {
			one(i, 1)
		}
	})
}

// stridedSplitMNK: SgemmStrided spreads items across cores (one core per
// item) when m·n·k is at most this; larger items use all cores each.
const stridedSplitMNK = 1 << 24
