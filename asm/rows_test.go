package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

var rowLens = func() []int {
	var l []int
	for n := 0; n <= 70; n++ {
		l = append(l, n)
	}
	return append(l, 127, 128, 129, 768, 1000, 3072, 4099)
}()

// sumTol is the tolerance for a float32 sum of n terms whose absolute
// values add to abs.
func sumTol(n int, abs float64) float64 {
	return 4*(math.Sqrt(float64(n))+2)*math.Ldexp(1, -24)*abs + 1e-37
}

func TestRowReductions(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range rowLens {
			x, y := randSlice(r, n), randSlice(r, n)
			var dot, dotAbs, sum, sumAbs float64
			mx := math.Inf(-1)
			for i := range x {
				dot += float64(x[i]) * float64(y[i])
				dotAbs += math.Abs(float64(x[i]) * float64(y[i]))
				sum += float64(x[i])
				sumAbs += math.Abs(float64(x[i]))
				mx = math.Max(mx, float64(x[i]))
			}
			if got := Dot(x, y); math.Abs(float64(got)-dot) > sumTol(n, dotAbs) {
				t.Errorf("n=%d: Dot = %g, want %g", n, got, dot)
			}
			r := rows()
			if got := r.sum(x); math.Abs(float64(got)-sum) > sumTol(n, sumAbs) {
				t.Errorf("n=%d: sum = %g, want %g", n, got, sum)
			}
			if got := r.max(x); float64(got) != mx {
				t.Errorf("n=%d: max = %g, want %g", n, got, mx)
			}
		}
	})
}

func TestRowElementwise(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, n := range rowLens {
			x, y := randSlice(r, n), randSlice(r, n)
			want := append([]float32(nil), y...)
			axpyGo(0.75, x, want)
			got := append([]float32(nil), y...)
			Axpy(0.75, x, got)
			for i := range got { // FMA may differ by one rounding
				if math.Abs(float64(got[i]-want[i])) > 1e-6*(math.Abs(float64(x[i]))+math.Abs(float64(y[i]))) {
					t.Fatalf("n=%d Axpy[%d] = %g, want %g", n, i, got[i], want[i])
				}
			}
			got = append([]float32(nil), x...)
			Scale(-1.5, got)
			want = append([]float32(nil), x...)
			scaleGo(-1.5, want)
			if !sameBits(got, want) {
				t.Fatalf("n=%d Scale differs", n)
			}
			got = make([]float32, n)
			Add(got, x, y)
			want = make([]float32, n)
			addGo(want, x, y)
			if !sameBits(got, want) {
				t.Fatalf("n=%d Add differs", n)
			}
			Mul(got, x, y)
			mulGo(want, x, y)
			if !sameBits(got, want) {
				t.Fatalf("n=%d Mul differs", n)
			}
			addGo(want, x, y)
			Add(x, x, y) // dst aliases a
			if !sameBits(x, want) {
				t.Fatalf("n=%d aliased Add differs", n)
			}
		}
	})
}

// TestExp measures the relative error of ExpInPlace against math.Exp on
// every tier and checks it stays within 2.5e-7 on [-86.9, 88.7], and the
// special values.
func TestExp(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		const n = 200003
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-86.9 + (88.7+86.9)*float64(i)/(n-1))
		}
		orig := append([]float32(nil), x...)
		ExpInPlace(x)
		worst := 0.0
		for i, v := range x {
			want := math.Exp(float64(orig[i]))
			rel := math.Abs(float64(v)-want) / want
			worst = math.Max(worst, rel)
		}
		t.Logf("max relative error %.3g", worst)
		if worst > 2.5e-7 {
			t.Fatalf("exp max relative error %.3g > 2.5e-7", worst)
		}
		sp := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 89, 100, -88, -1000, 0}
		for len(sp) < 33 {
			sp = append(sp, 0)
		}
		ExpInPlace(sp)
		if sp[0] == sp[0] || !math.IsInf(float64(sp[1]), 1) || sp[2] != 0 || !math.IsInf(float64(sp[3]), 1) || !math.IsInf(float64(sp[4]), 1) || sp[5] != 0 || sp[6] != 0 || sp[7] != 1 {
			t.Fatalf("special values: %v", sp[:8])
		}
	})
}

func TestSoftmaxRow(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, n := range rowLens {
			x := randSlice(r, n)
			for i := range x {
				x[i] *= 10
			}
			if n > 3 {
				x[2] = 500 // would overflow without max subtraction
			}
			want := make([]float64, n)
			mx := math.Inf(-1)
			for _, v := range x {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for i, v := range x {
				want[i] = math.Exp(float64(v) - mx)
				s += want[i]
			}
			SoftmaxRow(x)
			for i := range x {
				if math.Abs(float64(x[i])-want[i]/s) > 1e-6*want[i]/s+1e-7 {
					t.Fatalf("n=%d: softmax[%d] = %g, want %g", n, i, x[i], want[i]/s)
				}
			}
		}
	})
}

func TestLayerNormRow(t *testing.T) {
	forEachTier(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(27, 28))
		for _, n := range rowLens[1:] {
			x, g, bb := randSlice(r, n), randSlice(r, n), randSlice(r, n)
			for i := range x {
				x[i] = 3 + 2*x[i]
			}
			var mean, v float64
			for _, e := range x {
				mean += float64(e)
			}
			mean /= float64(n)
			for _, e := range x {
				v += (float64(e) - mean) * (float64(e) - mean)
			}
			v /= float64(n)
			rstd := 1 / math.Sqrt(v+1e-5)
			dst := make([]float32, n)
			gm, gr := LayerNormRow(dst, x, g, bb, 1e-5)
			if math.Abs(float64(gm)-mean) > 1e-5*(1+math.Abs(mean)) || math.Abs(float64(gr)-rstd) > 1e-5*rstd {
				t.Fatalf("n=%d: mean,rstd = %g,%g want %g,%g", n, gm, gr, mean, rstd)
			}
			for i := range dst {
				want := (float64(x[i])-mean)*rstd*float64(g[i]) + float64(bb[i])
				if math.Abs(float64(dst[i])-want) > 2e-5*(1+math.Abs(want)) {
					t.Fatalf("n=%d: y[%d] = %g, want %g", n, i, dst[i], want)
				}
			}
			LayerNormRow(x, x, g, bb, 1e-5) // in place
			if !sameBits(x, dst) {
				t.Fatalf("n=%d: in-place LayerNormRow differs", n)
			}
		}
	})
}
