package asm

import (
	"math/rand/v2"
	"testing"
)

// TestHalfPanels: a product with prepacked HalfPanels equals, bit for bit,
// Sgemm with the widened B, on every tier, with panels packed under every
// tier (widths equal: the half kernels read them in place where the tier
// has them; widths different: they are repacked run by run), for both
// layouts of B, ragged panels, several KC blocks, both parallel paths and
// 1–3 threads; Unpack gives B back.
func TestHalfPanels(t *testing.T) {
	direct, halfTiers := 0, 0
	forEachTier(t, func(t *testing.T) {
		tier := CurrentTier()
		base := *current.Load().gemm
		if base.halfKern != nil {
			halfTiers++
		}
		r := rand.New(rand.NewPCG(27, 28))
		small := base
		small.kc, small.mc, small.parMNK = 17, 2*base.mr, 0
		packedA := base
		packedA.directMNK = -1 // every product packs Ã (the AVX-512 tier reads it in place)
		for name, cfg := range map[string]gemmConfig{"tier": base, "small blocks": small, "packed A": packedA} {
			for _, s := range [][3]int{{197, 3*cfg.nr + 5, 2*cfg.kc + 3}, {cfg.mc + 7, 2 * cfg.nr, 41}, {5, cfg.nr - 1, 9}, {1, 1, 1}} {
				m, n, k := s[0], s[1], s[2]
				for _, transB := range []bool{false, true} {
					rows, cols := k, n
					if transB {
						rows, cols = n, k
					}
					ldb := cols + 2
					bh, b := randHalf(r, rows*ldb)
					transA := m == 5
					lda := k
					if transA {
						lda = m
					}
					a := randSlice(r, m*k)
					c0 := randSlice(r, m*n)
					want := append([]float32(nil), c0...)
					gemm(&cfg, transA, transB, m, n, k, 1.25, a, lda, b, ldb, 0.5, want, n, 1)
					for _, packTier := range SupportedTiers() {
						SetTier(packTier)
						hp := PackHalfPanels(transB, k, n, bh, ldb)
						SetTier(tier)
						back := make([]uint16, len(bh))
						copy(back, bh)
						for i := range back {
							back[i] ^= 0x5555 // Unpack must write every element of op(B)
						}
						hp.Unpack(transB, back, ldb)
						for i := 0; i < rows; i++ {
							for j := 0; j < cols; j++ {
								if back[i*ldb+j] != bh[i*ldb+j] {
									t.Fatalf("%s %d×%d transB=%v packed on %v: Unpack differs at (%d, %d)", name, k, n, transB, packTier, i, j)
								}
							}
						}
						if cfg.halfKern != nil && cfg.nr == hp.nr {
							direct++
						}
						for threads := 1; threads <= 3; threads++ {
							got := append([]float32(nil), c0...)
							gemmPanels(&cfg, transA, m, 1.25, a, lda, hp, 0.5, got, n, threads)
							if !sameBits(got, want) {
								t.Fatalf("%s %d×%d×%d transA=%v transB=%v packed on %v, threads=%d: differs from Sgemm on the widened B", name, m, n, k, transA, transB, packTier, threads)
							}
						}
					}
				}
			}
		}
		// The public entry point, against the float32 reference.
		m, n, k := 13, 70, 50
		bh, b := randHalf(r, n*k)
		a := randSlice(r, m*k)
		got, want := make([]float32, m*n), make([]float32, m*n)
		SgemmHalfPanels(false, m, 1, a, k, PackHalfPanels(true, k, n, bh, k), 0, got, n)
		Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
		if !sameBits(got, want) {
			t.Fatal("SgemmHalfPanels differs from Sgemm on the widened B")
		}
	})
	if halfTiers > 0 && direct == 0 {
		t.Error("no product ran the half kernels on the panels in place")
	}
}
