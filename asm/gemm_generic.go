package asm

import "unsafe"

// Pure-Go micro-kernels: the Generic tier's fast 4×4 kernel and kernelGo,
// the reference for every assembly micro-kernel (same contract as
// kernelFunc, any MR×NR).

// genericGemm is the Generic tier's blocking: 4×4 register tile.
var genericGemm = gemmConfig{
	mr: 4, nr: 4,
	kc: 256, mc: 128, nc: 1024, ncInner: 256,
	kern:      kern4x4Go,
	directMNK: 1 << 22,
	parMNK:    1 << 18,
}

// kernelGo returns a reference micro-kernel for an mr×nr tile. It
// accumulates each element over p in order, in float32, like the assembly
// kernels (which differ only by FMA rounding).
func kernelGo(mr, nr int) kernelFunc {
	return func(kc, nt int, a unsafe.Pointer, rsA, csA, tsA int, b unsafe.Pointer, csB int, c unsafe.Pointer, ldc int, alpha, beta float32) {
		as := unsafe.Slice((*float32)(a), (nt-1)*tsA+(mr-1)*rsA+(kc-1)*csA+1)
		bs := unsafe.Slice((*float32)(b), (kc-1)*csB+nr)
		cs := unsafe.Slice((*float32)(c), (nt*mr-1)*ldc+nr)
		acc := make([]float32, mr*nr)
		for t := 0; t < nt; t++ {
			clear(acc)
			for p := 0; p < kc; p++ {
				for i := 0; i < mr; i++ {
					av := as[t*tsA+i*rsA+p*csA]
					for j := 0; j < nr; j++ {
						acc[i*nr+j] += av * bs[p*csB+j]
					}
				}
			}
			for i := 0; i < mr; i++ {
				row := cs[(t*mr+i)*ldc : (t*mr+i)*ldc+nr]
				for j := range row {
					if beta == 0 {
						row[j] = alpha * acc[i*nr+j]
					} else {
						row[j] = alpha*acc[i*nr+j] + beta*row[j]
					}
				}
			}
		}
	}
}

// kern4x4Go is the Generic tier's micro-kernel: a 4×4 tile computed as two
// 4×2 halves, so that the 8 accumulators, 4 A and 2 B values fit the 16
// SSE registers the Go compiler uses on amd64 (≈4.8 GFLOP/s on one core
// here, vs ≈4.2 for a 16-accumulator 4×4 loop that spills).
func kern4x4Go(kc, nt int, a unsafe.Pointer, rsA, csA, tsA int, b unsafe.Pointer, csB int, c unsafe.Pointer, ldc int, alpha, beta float32) {
	as := unsafe.Slice((*float32)(a), (nt-1)*tsA+3*rsA+(kc-1)*csA+1)
	bs := unsafe.Slice((*float32)(b), (kc-1)*csB+4)
	cs := unsafe.Slice((*float32)(c), (nt*4-1)*ldc+4)
	for t := 0; t < nt; t++ {
		for h := 0; h < 4; h += 2 {
			var c00, c01, c10, c11, c20, c21, c30, c31 float32
			ao, bo := t*tsA, h
			for p := 0; p < kc; p++ {
				bv := bs[bo : bo+2 : bo+2]
				b0, b1 := bv[0], bv[1]
				a0 := as[ao]
				a1 := as[ao+rsA]
				a2 := as[ao+2*rsA]
				a3 := as[ao+3*rsA]
				c00 += a0 * b0
				c01 += a0 * b1
				c10 += a1 * b0
				c11 += a1 * b1
				c20 += a2 * b0
				c21 += a2 * b1
				c30 += a3 * b0
				c31 += a3 * b1
				ao += csA
				bo += csB
			}
			acc := [8]float32{c00, c01, c10, c11, c20, c21, c30, c31}
			for i := 0; i < 4; i++ {
				o := (t*4+i)*ldc + h
				row := cs[o : o+2 : o+2]
				if beta == 0 {
					row[0], row[1] = alpha*acc[2*i], alpha*acc[2*i+1]
				} else {
					row[0] = alpha*acc[2*i] + beta*row[0]
					row[1] = alpha*acc[2*i+1] + beta*row[1]
				}
			}
		}
	}
}

// genericKernels returns the Generic tier, available on every platform.
func genericKernels() *kernels { return newKernels(Generic, genericGemm, genericRows) }
