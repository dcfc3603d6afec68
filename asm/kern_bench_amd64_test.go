//go:build !purego

package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestKernelAlternatives checks the tuning-only kernels (12×32) against
// kernelGo like TestKernels does for the tier kernels.
func TestKernelAlternatives(t *testing.T) {
	if !hasAVX512() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(13, 14))
	const mr, nr, nt = 12, 32, 2
	for _, kc := range []int{1, 5, 64} {
		a := randSlice(r, nt*mr*kc)
		b := randSlice(r, kc*nr)
		c0 := randSlice(r, nt*mr*(nr+3))
		got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
		sgemmKernAVX512(kc, nt, unsafe.Pointer(&a[0]), 1, mr, mr*kc, unsafe.Pointer(&b[0]), nr, unsafe.Pointer(&got[0]), nr+3, 0.5, 1)
		kernelGo(mr, nr)(kc, nt, unsafe.Pointer(&a[0]), 1, mr, mr*kc, unsafe.Pointer(&b[0]), nr, unsafe.Pointer(&want[0]), nr+3, 0.5, 1)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*(float64(kc)+math.Abs(float64(want[i]))) {
				t.Fatalf("12x32 kc=%d: c[%d]=%g want %g", kc, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkKernel times the bare micro-kernels on L1/L2-resident packed
// panels (upper bound for the blocked driver).
func BenchmarkKernel(b *testing.B) {
	for _, k := range []struct {
		name   string
		mr, nr int
		f      kernelFunc
	}{{"avx512_12x32", 12, 32, sgemmKernAVX512}, {"avx512_6x64", 6, 64, sgemmKernAVX512x6x64}, {"avx2_6x16", 6, 16, sgemmKernAVX2}} {
		for _, kc := range []int{128, 256, 384} {
			b.Run(fmt.Sprintf("%s/kc%d", k.name, kc), func(b *testing.B) {
				if k.mr == 6 && k.nr == 16 && !hasAVX2() || k.nr > 16 && !hasAVX512() {
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
