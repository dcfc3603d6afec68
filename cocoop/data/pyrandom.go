package data

import "math/bits"

// PyRandom reproduces CPython's random module for the calls Dassl's
// few-shot sampling makes: random.seed(int) (MT19937 seeded by
// init_by_array with the seed's 32-bit words), getrandbits and
// _randbelow_with_getrandbits, which random.sample uses. Intn(n) returns
// exactly what CPython's Random._randbelow(n) returns after the same
// history of calls; Float64 is random.random().
//
// PyRandom is not safe for concurrent use.
type PyRandom struct {
	mt  [mtN]uint32
	idx int
}

const (
	mtN      = 624
	mtM      = 397
	mtMatrix = 0x9908b0df
	mtUpper  = 0x80000000
	mtLower  = 0x7fffffff
)

// NewPyRandom returns the state of CPython's random.seed(seed).
func NewPyRandom(seed uint64) *PyRandom {
	r := &PyRandom{}
	key := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		key = append(key, hi)
	}
	r.initByArray(key)
	return r
}

func (r *PyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < mtN; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = mtN
}

func (r *PyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	for k := max(mtN, len(key)); k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k := mtN - 1; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

// Uint32 is MT19937's genrand_uint32.
func (r *PyRandom) Uint32() uint32 {
	if r.idx >= mtN {
		mag := [2]uint32{0, mtMatrix}
		var kk int
		for kk = 0; kk < mtN-mtM; kk++ {
			y := (r.mt[kk] & mtUpper) | (r.mt[kk+1] & mtLower)
			r.mt[kk] = r.mt[kk+mtM] ^ (y >> 1) ^ mag[y&1]
		}
		for ; kk < mtN-1; kk++ {
			y := (r.mt[kk] & mtUpper) | (r.mt[kk+1] & mtLower)
			r.mt[kk] = r.mt[kk+(mtM-mtN)] ^ (y >> 1) ^ mag[y&1]
		}
		y := (r.mt[mtN-1] & mtUpper) | (r.mt[0] & mtLower)
		r.mt[mtN-1] = r.mt[mtM-1] ^ (y >> 1) ^ mag[y&1]
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Getrandbits is random.getrandbits(k) for 1 <= k <= 64 (32-bit words
// filled from the least significant end; the last one keeps its top bits).
func (r *PyRandom) Getrandbits(k int) uint64 {
	if k <= 0 || k > 64 {
		panic("data: PyRandom.Getrandbits: k out of [1, 64]")
	}
	if k <= 32 {
		return uint64(r.Uint32() >> (32 - k))
	}
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32() >> (64 - k))
	return hi<<32 | lo
}

// Intn is CPython's Random._randbelow(n) (rejection sampling on
// getrandbits(n.bit_length())); it panics if n <= 0.
func (r *PyRandom) Intn(n int) int {
	if n <= 0 {
		panic("data: PyRandom.Intn: n <= 0")
	}
	k := bits.Len(uint(n))
	v := r.Getrandbits(k)
	for v >= uint64(n) {
		v = r.Getrandbits(k)
	}
	return int(v)
}

// Float64 is random.random(): 53 bits from two outputs.
func (r *PyRandom) Float64() float64 {
	a, b := r.Uint32()>>5, r.Uint32()>>6
	return (float64(a)*67108864 + float64(b)) * (1.0 / 9007199254740992)
}
