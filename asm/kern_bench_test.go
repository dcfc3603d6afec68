//go:build !purego

package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// benchKernel is one micro-kernel timed by BenchmarkKernel (the per-arch
// lists are in kern_bench_*_test.go).
type benchKernel struct {
	name   string
	mr, nr int
	f      kernelFunc
	ok     func() bool // the CPU supports it
}

// benchKernels times the bare micro-kernels on L1/L2-resident packed
// panels (upper bound for the blocked driver). Sub-benchmarks are named
// isa_MRxNR/kcK: BenchmarkKernel/avx512_6x64/kc384 runs the AVX-512 6×64
// kernel over 33 tiles with a K block of 384; GFLOP/s is reported.
func benchKernels(b *testing.B, ks []benchKernel) {
	for _, k := range ks {
		for _, kc := range []int{128, 256, 384} {
			b.Run(fmt.Sprintf("%s/kc%d", k.name, kc), func(b *testing.B) {
				if !k.ok() {
					b.Skip("unsupported")
				}
				r := rand.New(rand.NewPCG(1, 1))
				nt := 198 / k.mr
				a := randSlice(r, nt*k.mr*kc)
				bp := randSlice(r, kc*k.nr)
				c := make([]float32, nt*k.mr*k.nr)
				for i := 0; i < b.N; i++ {
					k.f(kc, nt, unsafe.Pointer(&a[0]), 1, k.mr, k.mr*kc, unsafe.Pointer(&bp[0]), k.nr, unsafe.Pointer(&c[0]), k.nr, 1, 0)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(2*float64(nt*k.mr*k.nr*kc)/sec/1e9, "GFLOP/s")
			})
		}
	}
}
