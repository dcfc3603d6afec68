package tensor

import (
	"math"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/asm"
)

// anyCoresProcs are the GOMAXPROCS values whose results must equal those of
// GOMAXPROCS 1 bit for bit (above this machine's core count too: the
// split, not the hardware, is what could change the bits).
var anyCoresProcs = []int{2, 3, 5, 7}

// sameBitsAnyCores runs f at GOMAXPROCS 1 and at each of anyCoresProcs and
// reports every output that differs in any bit.
func sameBitsAnyCores(t *testing.T, f func() []*Tensor) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := f()
	for _, p := range anyCoresProcs {
		runtime.GOMAXPROCS(p)
		for i, got := range f() {
			if n := countBitDiffs(want[i].Data(), got.Data()); n > 0 {
				t.Errorf("GOMAXPROCS %d: output %d differs from GOMAXPROCS 1 in %d of %d elements", p, i, n, got.Numel())
			}
		}
	}
}

func countBitDiffs(a, b []float32) int {
	n := 0
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			n++
		}
	}
	return n
}

// expSplitSensitive returns n values on which asm.ExpInPlace gives
// different bits through its vector body and through its scalar tail
// (about 1% of inputs on the AVX tiers; none on the generic tier, where n
// random values are returned). Filling a tensor with them makes any chunk
// boundary off the vector grid show in the results.
func expSplitSensitive(n int) []float32 {
	rng := NewRNG(77)
	var found []float32
	var vec [16]float32
	for range 200000 {
		v := float32(rng.NormFloat64() * 4)
		one := []float32{v}
		for i := range vec {
			vec[i] = v
		}
		asm.ExpInPlace(one)
		asm.ExpInPlace(vec[:])
		if one[0] != vec[0] {
			found = append(found, v)
			if len(found) == 256 {
				break
			}
		}
	}
	out := make([]float32, n)
	for i := range out {
		if len(found) > 0 {
			out[i] = found[rng.Intn(len(found))]
		} else {
			out[i] = float32(rng.NormFloat64())
		}
	}
	return out
}

// TestSameBitsAnyCores runs every op that tensor splits across cores on
// ragged sizes large enough to split seven ways and checks that 2, 3, 5
// and 7 cores give the bits of one.
func TestSameBitsAnyCores(t *testing.T) {
	const n = 7*parallelGrain + 13 // flat: 7 chunks of cost 1, ragged end
	x := FromSlice(expSplitSensitive(n), n)
	y := NewRNG(5).Normal(0, 1, n)
	pos := Map(x, func(v float32) float32 { return float32(math.Abs(float64(v))) + 0.5 })
	flat := map[string]func() *Tensor{
		"Add":       func() *Tensor { return Add(x, y) },
		"Sub":       func() *Tensor { return Sub(x, y) },
		"Mul":       func() *Tensor { return Mul(x, y) },
		"Div":       func() *Tensor { return Div(x, pos) },
		"Maximum":   func() *Tensor { return Maximum(x, y) },
		"AddScalar": func() *Tensor { return AddScalar(x, 0.3) },
		"MulScalar": func() *Tensor { return MulScalar(x, 1.7) },
		"Neg":       func() *Tensor { return Neg(x) },
		"Exp":       func() *Tensor { return Exp(x) },
		"Log":       func() *Tensor { return Log(pos) },
		"Sqrt":      func() *Tensor { return Sqrt(pos) },
		"Tanh":      func() *Tensor { return Tanh(x) },
		"Sigmoid":   func() *Tensor { return Sigmoid(x) },
		"Relu":      func() *Tensor { return Relu(x) },
		"Square":    func() *Tensor { return Square(x) },
	}
	for name, op := range flat {
		t.Run(name, func(t *testing.T) { sameBitsAnyCores(t, func() []*Tensor { return []*Tensor{op()} }) })
	}
	// Row ops: 301 rows of 197, cost 4·197 per row: split seven ways.
	const rows, cols = 301, 197
	m := FromSlice(expSplitSensitive(rows*cols), rows, cols)
	gamma, beta := NewRNG(6).Normal(1, 0.1, cols), NewRNG(7).Normal(0, 0.1, cols)
	if rows*4*cols/parallelGrain < 7 {
		t.Fatalf("row ops too small to split seven ways")
	}
	t.Run("Softmax", func(t *testing.T) { sameBitsAnyCores(t, func() []*Tensor { return []*Tensor{Softmax(m, -1)} }) })
	t.Run("LogSoftmax", func(t *testing.T) { sameBitsAnyCores(t, func() []*Tensor { return []*Tensor{LogSoftmax(m, -1)} }) })
	t.Run("LayerNorm", func(t *testing.T) {
		sameBitsAnyCores(t, func() []*Tensor {
			y, mean, rstd := LayerNorm(m, gamma, beta, 1e-5)
			return []*Tensor{y, mean, rstd}
		})
	})
	// Products (asm.SgemmStrided): one large enough to split inside, and
	// a batch of attention-sized ones spread by item.
	rng := NewRNG(8)
	a, b := rng.Normal(0, 1, 301, 257), rng.Normal(0, 1, 131, 257)
	q, k := rng.Normal(0, 1, 6, 77, 64), rng.Normal(0, 1, 6, 77, 64)
	t.Run("MatMul", func(t *testing.T) {
		sameBitsAnyCores(t, func() []*Tensor { return []*Tensor{MatMulT(a, b, false, true), MatMulT(q, k, false, true)} })
	})
}

// TestParallelForVecChunks checks ParallelForVec's split: chunks cover
// [0, n) in order, and every boundary but n is a multiple of 16.
func TestParallelForVecChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, p := range append([]int{1}, anyCoresProcs...) {
		runtime.GOMAXPROCS(p)
		for _, n := range []int{0, 5, parallelGrain + 1, 3*parallelGrain + 7, 7*parallelGrain + 13} {
			chunks := make([][2]int, p)
			used := make([]bool, p)
			ParallelForVec(n, 1, func(w, lo, hi int) { chunks[w], used[w] = [2]int{lo, hi}, true })
			next := 0
			for w := range chunks {
				if !used[w] {
					continue
				}
				lo, hi := chunks[w][0], chunks[w][1]
				if lo != next || hi < lo || (hi != n && hi%vecAlign != 0) {
					t.Fatalf("GOMAXPROCS %d n=%d: chunk %d is [%d, %d) after %d", p, n, w, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("GOMAXPROCS %d n=%d: chunks end at %d", p, n, next)
			}
		}
	}
}
