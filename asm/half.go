package asm

import (
	"math"
	"unsafe"
)

// IEEE 754 binary16 ("half", PyTorch's float16) storage for frozen weights.
// GoCoOp computes in float32 only: a half operand is widened to float32
// (exactly: every binary16 value is a float32 value) when it is packed for
// the sgemm micro-kernels, so a product with half B gives the same bits as
// the product with the widened float32 B (docs/kernels.md §1.4).

// HalfToFloat32 converts IEEE binary16 to float32 exactly, including
// subnormals, signed zeros and infinities. A NaN keeps its sign and payload
// and comes out quiet (the quiet bit set), as the hardware conversions
// (x86 VCVTPH2PS, arm64 FCVT) make it, so every tier gives the same bits.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	var bits uint32
	switch {
	case exp == 0x1f: // Inf or NaN
		bits = sign | 0x7f800000 | mant<<13
		if mant != 0 {
			bits |= 0x400000 // quiet
		}
	case exp == 0 && mant == 0:
		bits = sign
	case exp == 0: // subnormal: mant·2^-24, normalised into float32
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		bits = sign | e<<23 | (mant&0x3ff)<<13
	default:
		bits = sign | (exp+127-15)<<23 | mant<<13
	}
	return math.Float32frombits(bits)
}

// Float32ToHalf rounds f to the nearest binary16, ties to even (PyTorch's
// .half()): values beyond ±65504 after rounding become ±Inf, tiny ones
// binary16 subnormals or ±0; NaN stays NaN (quiet, its top payload bits
// kept).
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	case exp > 127+15: // ≥ 2^16: overflows whatever the rounding
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased binary16 exponent
	if e >= 1 {
		// Normal: keep 10 mantissa bits, round the other 13 to even. A
		// carry out of the mantissa bumps the exponent (to Inf past 65504).
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++
		}
		if h >= 0x7c00 {
			return sign | 0x7c00
		}
		return sign | uint16(h)
	}
	// Subnormal or zero: the value is m·2^(exp−150) with the implicit bit;
	// in units of 2^-24 that is m >> (126 − exp), rounded to even.
	if exp == 0 {
		return sign // float32 subnormals are below half of 2^-24
	}
	m := mant | 0x800000
	shift := uint(126 - exp)
	if shift > 24 {
		return sign
	}
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && h&1 == 1 {
		h++ // may carry into the smallest normal: still correct bits
	}
	return sign | uint16(h)
}

// WidenHalf sets dst[i] = HalfToFloat32(src[i]) for i < len(src); dst must
// be at least as long.
func WidenHalf(dst []float32, src []uint16) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	widenRows(current.Load().gemm, unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), 1, len(src), len(src), len(src))
}

// NarrowHalf sets dst[i] = Float32ToHalf(src[i]) for i < len(src).
func NarrowHalf(dst []uint16, src []float32) {
	_ = dst[:len(src)]
	for i, v := range src {
		dst[i] = Float32ToHalf(v)
	}
}

// halfWidener widens a rows×cols block of binary16 (row stride lds) into
// float32 (row stride ldd), cols a multiple of width; strides in elements.
type halfWidener struct {
	width int
	widen func(dst, src unsafe.Pointer, rows, cols, ldd, lds int)
}

// widenRows widens a rows×cols half block with the tier's widener where it
// has one (whole vectors) and HalfToFloat32 for the rest.
func widenRows(cfg *gemmConfig, dst, src unsafe.Pointer, rows, cols, ldd, lds int) {
	done := 0
	if w := cfg.widenHalf; w.widen != nil && cols >= w.width {
		done = cols / w.width * w.width
		w.widen(dst, src, rows, done, ldd, lds)
	}
	if done == cols {
		return
	}
	for i := 0; i < rows; i++ {
		d := unsafe.Slice((*float32)(unsafe.Add(dst, 4*(i*ldd+done))), cols-done)
		s := unsafe.Slice((*uint16)(unsafe.Add(src, 2*(i*lds+done))), cols-done)
		for j, h := range s {
			d[j] = HalfToFloat32(h)
		}
	}
}
