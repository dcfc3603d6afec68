//go:build !purego

package asm

import "testing"

// BenchmarkKernel times the amd64 micro-kernels (see benchKernels).
func BenchmarkKernel(b *testing.B) {
	benchKernels(b, []benchKernel{
		{"avx512_6x64", 6, 64, sgemmKernAVX512x6x64, hasAVX512},
		{"avx2_6x16", 6, 16, sgemmKernAVX2, hasAVX2},
	})
}
