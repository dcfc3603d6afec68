//go:build !purego

package asm

import "testing"

// BenchmarkKernel times the NEON micro-kernels (see benchKernels):
// BenchmarkKernel/neon_8x12/kc256 is the NEON tier's 8×12 kernel with a
// K block of 256.
func BenchmarkKernel(b *testing.B) {
	benchKernels(b, []benchKernel{
		{"neon_8x12", 8, 12, sgemmKernNEON8x12, hasNEON},
		{"neon_8x8", 8, 8, sgemmKernNEON8x8, hasNEON},
	})
}
