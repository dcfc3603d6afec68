package tensor

import (
	"math"
	"math/bits"
)

// RNG is a deterministic, version-stable random number generator: the
// algorithms are ours and fixed, so a seed gives the same numbers in every
// Go release (math/rand makes no such promise).
//
//   - Core: PCG-XSH-RR 64/32 (O'Neill, 2014): a 64-bit LCG
//     state = state·6364136223846793005 + inc, output
//     rotr32(uint32(((old>>18)^old)>>27), old>>59). NewRNG(seed) seeds it
//     as the reference pcg32_srandom_r(seed, 54), so NewRNG(42) reproduces
//     the reference pcg32-demo stream (0xa15c02b7, 0x7b47f409, ...).
//   - Uint64: two outputs, first in the high half.
//   - Float32: top 24 bits of one output · 2⁻²⁴, in [0, 1).
//   - Float64: top 53 bits of Uint64 · 2⁻⁵³, in [0, 1).
//   - Normals: Box–Muller on (1-Float64(), Float64()) giving the pair
//     r·cos θ, r·sin θ; Normal fills tensors with both, NormFloat64 returns
//     the cosine one. (These use math.Log/Sqrt/Cos/Sin, which may differ
//     in the last ulp across architectures; the uniform streams are exact.)
//   - Intn: Lemire's multiply-shift with rejection (unbiased).
//   - Perm: Fisher–Yates from the top (i = n-1 down to 1, j = Intn(i+1)).
//
// An RNG is not safe for concurrent use.
type RNG struct{ state, inc uint64 }

const pcgMult = 6364136223846793005

// NewRNG returns a generator seeded with seed (on PCG stream 54).
func NewRNG(seed uint64) *RNG {
	r := &RNG{inc: 54<<1 | 1}
	r.next()
	r.state += seed
	r.next()
	return r
}

// next returns the next 32-bit PCG-XSH-RR output.
func (r *RNG) next() uint32 {
	old := r.state
	r.state = old*pcgMult + r.inc
	x := uint32(((old >> 18) ^ old) >> 27)
	return bits.RotateLeft32(x, -int(old>>59))
}

// Uint32 returns 32 random bits.
func (r *RNG) Uint32() uint32 { return r.next() }

// Uint64 returns 64 random bits (two outputs, the first in the high half).
func (r *RNG) Uint64() uint64 {
	hi := uint64(r.next())
	return hi<<32 | uint64(r.next())
}

// Float32 returns a uniform float32 in [0, 1).
func (r *RNG) Float32() float32 { return float32(r.next()>>8) * 0x1p-24 }

// Float64 returns a uniform float64 in [0, 1).
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// normPair returns two independent standard normals (Box–Muller).
func (r *RNG) normPair() (float64, float64) {
	u1 := 1 - r.Float64() // (0, 1]: log is finite
	u2 := r.Float64()
	rad := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	return rad * c, rad * s
}

// NormFloat64 returns a standard normal sample (the first of a Box–Muller
// pair; the second is discarded).
func (r *RNG) NormFloat64() float64 {
	z, _ := r.normPair()
	return z
}

// Intn returns a uniform int in [0, n); it panics if n <= 0.
func (r *RNG) Intn(n int) int {
	if n <= 0 {
		panic("tensor.RNG.Intn: n <= 0")
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), bound)
		}
	}
	return int(hi)
}

// Perm returns a random permutation of [0, n) (Fisher–Yates).
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Normal returns a tensor of samples from N(mean, std²), filled in
// row-major order with both values of each Box–Muller pair.
func (r *RNG) Normal(mean, std float32, shape ...int) *Tensor {
	t := New(shape...)
	d := t.data
	for i := 0; i < len(d); i += 2 {
		z0, z1 := r.normPair()
		d[i] = mean + std*float32(z0)
		if i+1 < len(d) {
			d[i+1] = mean + std*float32(z1)
		}
	}
	return t
}

// Uniform returns a tensor of samples lo + (hi-lo)·Float32(), in [lo, hi)
// up to float32 rounding.
func (r *RNG) Uniform(lo, hi float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = lo + (hi-lo)*r.Float32()
	}
	return t
}
