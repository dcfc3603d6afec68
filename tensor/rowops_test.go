package tensor

import (
	"math"
	"testing"
)

// rowsAlong calls fn with the multi-indices of each row along axis.
func rowsAlong(shape []int, axis int, fn func(row [][]int)) {
	outer := append([]int{}, shape...)
	outer[axis] = 1
	forEachIndex(outer, func(idx []int) {
		row := make([][]int, shape[axis])
		for i := range row {
			r := append([]int{}, idx...)
			r[axis] = i
			row[i] = r
		}
		fn(row)
	})
}

func TestSoftmaxVsReference(t *testing.T) {
	x := MulScalar(randT(11, 3, 4, 5), 10)
	for _, in := range []*Tensor{x, x.Transpose(0, 2)} {
		for axis := -1; axis < 3; axis++ {
			a := normAxis("test", in.shape, axis)
			want := make([]float64, in.Numel())
			wantLog := make([]float64, in.Numel())
			st := contiguousStrides(in.shape)
			rowsAlong(in.shape, a, func(row [][]int) {
				m := math.Inf(-1)
				for _, idx := range row {
					m = math.Max(m, float64(in.At(idx...)))
				}
				var s float64
				for _, idx := range row {
					s += math.Exp(float64(in.At(idx...)) - m)
				}
				for _, idx := range row {
					o := 0
					for d, v := range idx {
						o += v * st[d]
					}
					v := float64(in.At(idx...)) - m
					want[o] = math.Exp(v) / s
					wantLog[o] = v - math.Log(s)
				}
			})
			assertClose(t, "Softmax", Softmax(in, axis), want, in.Shape(), 1e-6)
			assertClose(t, "LogSoftmax", LogSoftmax(in, axis), wantLog, in.Shape(), 1e-6)
		}
	}
	// Huge logits do not overflow.
	s := Softmax(FromSlice(f32s(1000, 1000, -1000), 3), 0).ToSlice()
	if math.Abs(float64(s[0])-0.5) > 1e-6 || s[2] != 0 {
		t.Errorf("Softmax of large logits: %v", s)
	}
}

func TestLayerNormVsReference(t *testing.T) {
	const eps = 1e-5
	x := AddScalar(MulScalar(randT(12, 2, 3, 16), 3), 5)
	w, b := randT(13, 16), randT(14, 16)
	for _, in := range []*Tensor{x, x.Transpose(0, 1)} {
		for _, affine := range []bool{true, false} {
			ww, bb := w, b
			if !affine {
				ww, bb = nil, nil
			}
			y, mean, rstd := LayerNorm(in, ww, bb, eps)
			rows := in.Numel() / 16
			c := in.Contiguous().Data()
			wantY := make([]float64, 0, in.Numel())
			wantM := make([]float64, 0, rows)
			wantR := make([]float64, 0, rows)
			for r := 0; r < rows; r++ {
				row := c[r*16 : (r+1)*16]
				var m, v float64
				for _, e := range row {
					m += float64(e)
				}
				m /= 16
				for _, e := range row {
					v += (float64(e) - m) * (float64(e) - m)
				}
				v /= 16 // biased
				rs := 1 / math.Sqrt(v+eps)
				for i, e := range row {
					g, bi := 1.0, 0.0
					if affine {
						g, bi = float64(w.At(i)), float64(b.At(i))
					}
					wantY = append(wantY, (float64(e)-m)*rs*g+bi)
				}
				wantM = append(wantM, m)
				wantR = append(wantR, rs)
			}
			sh := in.Shape()
			assertClose(t, "LayerNorm y", y, wantY, sh, 1e-5)
			assertClose(t, "LayerNorm mean", mean, wantM, sh[:2], 1e-6)
			assertClose(t, "LayerNorm rstd", rstd, wantR, sh[:2], 1e-5)
		}
	}
	mustPanicShape(t, func() { LayerNorm(New(2, 4), New(3), nil, eps) })
}
