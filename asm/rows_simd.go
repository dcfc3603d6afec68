//go:build !purego && (amd64 || arm64)

package asm

// The Go side of the assembly row kernels of every SIMD tier: each ISA's
// kernels take whole vectors (rows_amd64.go, rows_arm64.go), the wrappers
// below run the tails with the Go references of rows.go.

// rowAsm is one ISA's set of row kernels over whole vectors.
type rowAsm struct {
	lanes   int
	dot     func(x, y *float32, n int) float32
	sum     func(x *float32, n int) float32
	max     func(x *float32, n int) float32
	sumSqD  func(x *float32, n int, mean float32) float32
	axpy    func(alpha float32, x, y *float32, n int)
	scale   func(alpha float32, x *float32, n int)
	add     func(dst, a, b *float32, n int)
	mul     func(dst, a, b *float32, n int)
	normAff func(dst, x, gamma, beta *float32, n int, mean, rstd float32)
	expSub  func(x *float32, n int, m float32) float32
	gelu    func(y, x *float32, n int)
	geluG   func(dx, dy, x *float32, n int)
}

// kernels wraps the assembly in slice functions: the first n&^(lanes-1)
// elements go to assembly, the rest to the Go reference.
func (r rowAsm) kernels() rowKernels {
	split := func(n int) int { return n &^ (r.lanes - 1) }
	return rowKernels{
		dot: func(x, y []float32) float32 {
			n := split(len(x))
			var s float32
			if n > 0 {
				s = r.dot(&x[0], &y[0], n)
			}
			return s + dotGo(x[n:], y[n:])
		},
		sum: func(x []float32) float32 {
			n := split(len(x))
			var s float32
			if n > 0 {
				s = r.sum(&x[0], n)
			}
			return s + sumGo(x[n:])
		},
		max: func(x []float32) float32 {
			n := split(len(x))
			m := maxGo(x[n:])
			if n > 0 {
				if v := r.max(&x[0], n); v > m || m != m {
					if m == m {
						m = v
					}
				}
			}
			return m
		},
		sumSqD: func(x []float32, mean float32) float32 {
			n := split(len(x))
			var s float32
			if n > 0 {
				s = r.sumSqD(&x[0], n, mean)
			}
			return s + sumSqDGo(x[n:], mean)
		},
		axpy: func(alpha float32, x, y []float32) {
			n := split(len(x))
			if n > 0 {
				r.axpy(alpha, &x[0], &y[0], n)
			}
			axpyGo(alpha, x[n:], y[n:])
		},
		scale: func(alpha float32, x []float32) {
			n := split(len(x))
			if n > 0 {
				r.scale(alpha, &x[0], n)
			}
			scaleGo(alpha, x[n:])
		},
		add: func(dst, a, b []float32) {
			n := split(len(dst))
			if n > 0 {
				r.add(&dst[0], &a[0], &b[0], n)
			}
			addGo(dst[n:], a[n:], b[n:])
		},
		mul: func(dst, a, b []float32) {
			n := split(len(dst))
			if n > 0 {
				r.mul(&dst[0], &a[0], &b[0], n)
			}
			mulGo(dst[n:], a[n:], b[n:])
		},
		normAff: func(dst, x, gamma, beta []float32, mean, rstd float32) {
			n := split(len(x))
			if n > 0 {
				r.normAff(&dst[0], &x[0], &gamma[0], &beta[0], n, mean, rstd)
			}
			normAffGo(dst[n:], x[n:], gamma[n:], beta[n:], mean, rstd)
		},
		expSub: func(x []float32, m float32) float32 {
			n := split(len(x))
			var s float32
			if n > 0 {
				s = r.expSub(&x[0], n, m)
			}
			return s + expSubGo(x[n:], m)
		},
		gelu: func(y, x []float32) {
			n := split(len(y))
			if n > 0 {
				r.gelu(&y[0], &x[0], n)
			}
			quickGELUGo(y[n:], x[n:])
		},
		geluG: func(dx, dy, x []float32) {
			n := split(len(dx))
			if n > 0 {
				r.geluG(&dx[0], &dy[0], &x[0], n)
			}
			quickGELUGradGo(dx[n:], dy[n:], x[n:])
		},
	}
}
