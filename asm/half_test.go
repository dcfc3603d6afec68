package asm

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"unsafe"
)

// halfRoundRef rounds x to binary16 by searching the finite halves for the
// nearest (float64 distances, ties to the even bit pattern), with
// overflow to ±Inf where x is at least 65520 (the midpoint between 65504
// and 2^16, which rounds to even: up).
func halfRoundRef(x float32, pos []float64) uint16 {
	if x != x {
		return 0x7e00
	}
	sign := uint16(0)
	v := float64(x)
	if math.Signbit(v) {
		sign, v = 0x8000, -v
	}
	if v >= 65520 {
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(pos, v) // pos[i-1] < v <= pos[i]
	if i < len(pos) && pos[i] == v {
		return sign | uint16(i)
	}
	lo, hi := i-1, i
	dl, dh := v-pos[lo], pos[hi]-v
	switch {
	case dl < dh:
		return sign | uint16(lo)
	case dh < dl:
		return sign | uint16(hi)
	case lo%2 == 0:
		return sign | uint16(lo)
	}
	return sign | uint16(hi)
}

func TestHalfConversions(t *testing.T) {
	// Every binary16 pattern widens to the value its fields say and
	// narrows back to itself (NaNs: to a NaN of the same sign).
	pos := make([]float64, 0x7c00) // finite non-negative halves by pattern
	for h := 0; h < 0x7c00; h++ {
		e, m := h>>10, float64(h&0x3ff)
		v := m * math.Pow(2, -24)
		if e > 0 {
			v = (1024 + m) * math.Pow(2, float64(e-25))
		}
		pos[h] = v
		for _, s := range []uint16{0, 0x8000} {
			f := HalfToFloat32(uint16(h) | s)
			want := v
			if s != 0 {
				want = -v
			}
			if float64(f) != want || math.Signbit(float64(f)) != (s != 0) {
				t.Fatalf("HalfToFloat32(%#04x) = %g, want %g", uint16(h)|s, f, want)
			}
			if back := Float32ToHalf(f); back != uint16(h)|s {
				t.Fatalf("Float32ToHalf(%g) = %#04x, want %#04x", f, back, uint16(h)|s)
			}
		}
	}
	for _, h := range []uint16{0x7c00, 0xfc00} {
		if f := HalfToFloat32(h); !math.IsInf(float64(f), 1-2*int(h>>15)) || Float32ToHalf(f) != h {
			t.Fatalf("infinity %#04x: %g", h, f)
		}
	}
	for _, h := range []uint16{0x7c01, 0x7e00, 0xfd55, 0x7fff} {
		f := HalfToFloat32(h)
		if f == f || math.Float32bits(f)&0x400000 == 0 || Float32ToHalf(f)&0x7c00 != 0x7c00 || Float32ToHalf(f)&0x3ff == 0 {
			t.Fatalf("NaN %#04x: %#08x, back %#04x", h, math.Float32bits(f), Float32ToHalf(f))
		}
	}
	// Rounding: known cases, then random float32 against the search.
	for _, c := range []struct {
		f float32
		h uint16
	}{
		{65504, 0x7bff}, {65519.99, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00},
		{1, 0x3c00}, {1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, // ties to even
		{0x1p-24, 0x0001}, {0x1p-25, 0}, {0x1.8p-25, 0x0001}, {0x1.8p-24, 0x0002},
		{0x1p-14, 0x0400}, {0x1.ffcp-15, 0x0400}, {float32(math.SmallestNonzeroFloat32), 0},
		{-2, 0xc000},
	} {
		if got := Float32ToHalf(c.f); got != c.h {
			t.Errorf("Float32ToHalf(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	r := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 200000; i++ {
		var f float32
		switch i % 3 {
		case 0:
			f = math.Float32frombits(r.Uint32()) // every exponent
		case 1:
			f = float32(r.NormFloat64() * 0.05) // weight-like
		default:
			f = float32(math.Ldexp(r.Float64(), -r.IntN(30))) // near the subnormals
		}
		if f != f {
			continue
		}
		if got, want := Float32ToHalf(f), halfRoundRef(f, pos); got != want {
			t.Fatalf("Float32ToHalf(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

// TestWidenHalf: each tier's widener gives HalfToFloat32's bits for every
// pattern, on blocks with strides and ragged widths.
func TestWidenHalf(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	want := make([]float32, len(all))
	for i, h := range all {
		want[i] = HalfToFloat32(h)
	}
	forEachTier(t, func(t *testing.T) {
		got := make([]float32, len(all))
		WidenHalf(got, all)
		if !sameBits(got, want) {
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("WidenHalf(%#04x) = %#08x, want %#08x", all[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
		}
		cfg := current.Load().gemm
		r := rand.New(rand.NewPCG(23, 24))
		for _, cols := range []int{1, 7, 8, 15, 16, 17, 64, 70} {
			rows, lds, ldd := 5, cols+3, cols+9
			src := make([]uint16, rows*lds)
			for i := range src {
				src[i] = uint16(r.Uint32())
			}
			dst := make([]float32, rows*ldd)
			widenRows(cfg, unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), rows, cols, ldd, lds)
			for i := 0; i < rows; i++ {
				for j := 0; j < ldd; j++ {
					w := float32(0)
					if j < cols {
						w = HalfToFloat32(src[i*lds+j])
					}
					if math.Float32bits(dst[i*ldd+j]) != math.Float32bits(w) {
						t.Fatalf("cols %d: [%d,%d] = %g, want %g", cols, i, j, dst[i*ldd+j], w)
					}
				}
			}
		}
	})
}

// randHalf returns n random binary16 values and their float32 widening.
func randHalf(r *rand.Rand, n int) ([]uint16, []float32) {
	bh := make([]uint16, n)
	for i := range bh {
		bh[i] = Float32ToHalf(float32(r.NormFloat64()))
	}
	b := make([]float32, n)
	WidenHalf(b, bh)
	return bh, b
}

// TestSgemmHalfB: a product with binary16 B equals, bit for bit, Sgemm
// with the widened B, on every tier, for both layouts of B, ragged panels,
// several KC blocks, both parallel paths and 1–3 threads.
func TestSgemmHalfB(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		base := *current.Load().gemm
		r := rand.New(rand.NewPCG(25, 26))
		small := base
		small.kc, small.mc, small.parMNK = 17, 2*base.mr, 0
		for name, cfg := range map[string]gemmConfig{"tier": base, "small blocks": small} {
			for _, s := range [][3]int{{197, 3*cfg.nr + 5, 2*cfg.kc + 3}, {cfg.mc + 7, 2 * cfg.nr, 41}, {5, cfg.nr - 1, 9}, {1, 1, 1}} {
				m, n, k := s[0], s[1], s[2]
				for _, transB := range []bool{false, true} {
					rows, cols := k, n
					if transB {
						rows, cols = n, k
					}
					ldb := cols + 2
					bh, b := randHalf(r, rows*ldb)
					a := randSlice(r, m*k)
					c0 := randSlice(r, m*n)
					want := append([]float32(nil), c0...)
					gemm(&cfg, false, transB, m, n, k, 1.25, a, k, b, ldb, 0.5, want, n, 1)
					for threads := 1; threads <= 3; threads++ {
						got := append([]float32(nil), c0...)
						gemmHalfB(&cfg, false, transB, m, n, k, 1.25, a, k, bh, ldb, 0.5, got, n, threads)
						if !sameBits(got, want) {
							t.Fatalf("%s %d×%d×%d transB=%v threads=%d: differs from Sgemm on the widened B", name, m, n, k, transB, threads)
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
		SgemmHalfB(false, true, m, n, k, 1, a, k, bh, k, 0, got, n)
		Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
		if !sameBits(got, want) {
			t.Fatal("SgemmHalfB differs from Sgemm on the widened B")
		}
	})
}
