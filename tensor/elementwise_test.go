package tensor

import (
	"math"
	"testing"

	"github.com/gocoop/gocoop/asm"
)

func TestBroadcastHandComputed(t *testing.T) {
	// [2,1,3] + [4,1] → [2,4,3]: out[i,j,k] = a[i,0,k] + b[j,0].
	a := FromSlice(f32s(1, 2, 3, 10, 20, 30), 2, 1, 3)
	b := FromSlice(f32s(100, 200, 300, 400), 4, 1)
	got := Add(a, b)
	var want []float64
	for i := 0; i < 2; i++ {
		for j := 0; j < 4; j++ {
			for k := 0; k < 3; k++ {
				want = append(want, float64(a.At(i, 0, k)+b.At(j, 0)))
			}
		}
	}
	assertClose(t, "[2,1,3]+[4,1]", got, want, []int{2, 4, 3}, 0)
	assertClose(t, "row", Sub(FromSlice(f32s(1, 2, 3, 4), 2, 2), FromSlice(f32s(1, 10), 2)),
		[]float64{0, -8, 2, -6}, []int{2, 2}, 0)
	assertClose(t, "col", Div(FromSlice(f32s(1, 2, 3, 4), 2, 2), FromSlice(f32s(1, 2), 2, 1)),
		[]float64{1, 2, 1.5, 2}, []int{2, 2}, 1e-7)
	assertClose(t, "scalar first", Sub(Scalar(1), FromSlice(f32s(1, 2), 2)), []float64{0, -1}, []int{2}, 0)
	sh, err := BroadcastShapes([]int{2, 1, 3}, []int{4, 1})
	if err != nil || !SameShape(sh, []int{2, 4, 3}) {
		t.Fatalf("BroadcastShapes: %v %v", sh, err)
	}
	if _, err := BroadcastShapes([]int{2, 3}, []int{4, 3}); err == nil {
		t.Fatal("BroadcastShapes must fail for [2 3],[4 3]")
	}
}

// TestBinaryVsReference checks every binary op on many layouts (contiguous,
// broadcast rows/columns/scalars, transposed and sliced views) against a
// float64 reference computed element by element.
func TestBinaryVsReference(t *testing.T) {
	x := randT(3, 4, 5, 6)
	layouts := []struct {
		name string
		a, b *Tensor
	}{
		{"same", randT(1, 4, 5, 6), randT(2, 4, 5, 6)},
		{"row", randT(1, 4, 5, 6), randT(2, 6)},
		{"rowFirst", randT(1, 6), randT(2, 4, 5, 6)},
		{"col", randT(1, 4, 5, 6), randT(2, 5, 1)},
		{"scalar", randT(1, 4, 5, 6), Scalar(0.75)},
		{"scalarFirst", Scalar(-0.5), randT(2, 4, 5, 6)},
		{"outer", randT(1, 3, 1), randT(2, 1, 7)},
		{"mid", randT(1, 2, 1, 3), randT(2, 4, 1)},
		{"transposed", x.Transpose(0, 2), randT(2, 6, 5, 4)},
		{"sliced", x.Slice(2, 1, 5), x.Slice(2, 2, 6)},
		{"expanded", randT(1, 6).Expand(5, 6), randT(2, 5, 6).Transpose(0, 1).Transpose(0, 1)},
		{"rank0", Scalar(2), Scalar(3)},
		{"rank10", randT(1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3).Permute(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), randT(2, 2, 1, 2, 1, 2, 1, 2, 1, 2)},
		{"empty", New(0, 3), New(3)},
	}
	ops := []struct {
		name string
		f    func(a, b *Tensor) *Tensor
		ref  func(x, y float64) float64
	}{
		{"Add", Add, func(x, y float64) float64 { return x + y }},
		{"Sub", Sub, func(x, y float64) float64 { return x - y }},
		{"Mul", Mul, func(x, y float64) float64 { return x * y }},
		{"Div", Div, func(x, y float64) float64 { return x / y }},
		{"Maximum", Maximum, math.Max},
		{"Map2", func(a, b *Tensor) *Tensor { return Map2(a, b, func(x, y float32) float32 { return x*y + 1 }) },
			func(x, y float64) float64 { return x*y + 1 }},
	}
	for _, l := range layouts {
		shape := broadcast("test", nil, l.a.shape, l.b.shape)
		for _, op := range ops {
			var want []float64
			forEachIndex(shape, func(idx []int) {
				want = append(want, op.ref(bcastAt(l.a, idx), bcastAt(l.b, idx)))
			})
			assertClose(t, l.name+"/"+op.name, op.f(l.a, l.b), want, shape, 1e-6)
		}
	}
}

func TestUnaryVsReference(t *testing.T) {
	x := MulScalar(randT(5, 3, 4, 5), 4) // [-4, 4)
	pos := AddScalar(Map(x, func(v float32) float32 { return float32(math.Abs(float64(v))) }), 0.1)
	ops := []struct {
		name string
		f    func(*Tensor) *Tensor
		in   *Tensor
		ref  func(float64) float64
	}{
		{"Neg", Neg, x, func(v float64) float64 { return -v }},
		{"Exp", Exp, x, math.Exp},
		{"Log", Log, pos, math.Log},
		{"Sqrt", Sqrt, pos, math.Sqrt},
		{"Tanh", Tanh, x, math.Tanh},
		{"Sigmoid", Sigmoid, x, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"Relu", Relu, x, func(v float64) float64 { return math.Max(v, 0) }},
		{"Square", Square, x, func(v float64) float64 { return v * v }},
		{"AddScalar", func(a *Tensor) *Tensor { return AddScalar(a, 1.5) }, x, func(v float64) float64 { return v + 1.5 }},
		{"MulScalar", func(a *Tensor) *Tensor { return MulScalar(a, -2) }, x, func(v float64) float64 { return -2 * v }},
	}
	for _, op := range ops {
		for _, in := range []*Tensor{op.in, op.in.Permute(2, 0, 1), op.in.Slice(1, 1, 3)} {
			var want []float64
			forEachIndex(in.shape, func(idx []int) { want = append(want, op.ref(float64(in.At(idx...)))) })
			assertClose(t, op.name, op.f(in), want, in.Shape(), 1e-6)
		}
	}
	// Sigmoid must not overflow at the extremes.
	s := Sigmoid(FromSlice(f32s(-1000, 1000), 2)).ToSlice()
	if s[0] != 0 || s[1] != 1 {
		t.Errorf("Sigmoid extremes: %v", s)
	}
}

// TestAllocs checks the one-allocation-per-op budget: an output tensor is
// three allocations (struct, shape+strides, data); the loops add none.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	a, b := randT(1, 8, 16), randT(2, 8, 16)
	row, col := randT(3, 16), randT(4, 8, 1)
	tr := randT(5, 16, 8).T()
	cases := []struct {
		name string
		f    func()
	}{
		{"same", func() { Add(a, b) }},
		{"row", func() { Mul(a, row) }},
		{"col", func() { Sub(a, col) }},
		{"strided", func() { Add(a, tr) }},
		{"unary strided", func() { Exp(tr) }},
		{"scalar", func() { MulScalar(tr, 2) }},
		{"inplace", func() { a.AxpyInPlace(0, tr) }},
		{"matmul", func() { MatMulT(a, tr, false, true) }},
		{"sum", func() { Sum(a, []int{0}, false) }},
		{"sumTo", func() { SumTo(a, []int{16}) }},
	}
	// asm's own allocations (packing buffers) are not ours to count.
	c, trc := make([]float32, 8*8), tr.Contiguous().Data()
	gemmAllocs := testing.AllocsPerRun(20, func() {
		asm.Sgemm(false, true, 8, 8, 16, 1, a.Data(), 16, trc, 16, 0, c, 8)
	})
	for _, c := range cases {
		budget := 3.0
		if c.name == "matmul" {
			budget += gemmAllocs
		}
		if n := testing.AllocsPerRun(20, c.f); n > budget {
			t.Errorf("%s: %v allocations, want <= %v", c.name, n, budget)
		}
	}
}

// TestParallelPaths checks that ops big enough to be split across
// goroutines agree exactly with the serial kernels.
func TestParallelPaths(t *testing.T) {
	const rows, cols = 300, 512 // > 4·parallelGrain elements
	x, y := randT(1, rows, cols), randT(2, rows, cols)
	serial := func(f func(lo, hi int)) { f(0, rows*cols) }
	want := New(rows, cols)
	serial(func(lo, hi int) { binVV(opMul, 0, want.data[lo:hi], x.data[lo:hi], y.data[lo:hi]) })
	if MaxAbsDiff(Mul(x, y), want) != 0 {
		t.Error("Mul")
	}
	serial(func(lo, hi int) { binVS(opAdd, 0, want.data[lo:hi], x.data[lo:hi], 3) })
	if MaxAbsDiff(AddScalar(x, 3), want) != 0 {
		t.Error("AddScalar")
	}
	serial(func(lo, hi int) { unaryKernel(opTanh, want.data[lo:hi], x.data[lo:hi]) })
	if MaxAbsDiff(Tanh(x), want) != 0 {
		t.Error("Tanh")
	}
	// Row ops: each row must equal the op applied to that row alone.
	sm, lsm := Softmax(x, -1), LogSoftmax(x, -1)
	ln, _, _ := LayerNorm(x, nil, nil, 1e-5)
	for _, r := range []int{0, rows / 2, rows - 1} {
		row := x.Slice(0, r, r+1)
		if MaxAbsDiff(sm.Slice(0, r, r+1), Softmax(row, -1)) != 0 ||
			MaxAbsDiff(lsm.Slice(0, r, r+1), LogSoftmax(row, -1)) != 0 {
			t.Errorf("softmax row %d", r)
		}
		l, _, _ := LayerNorm(row, nil, nil, 1e-5)
		if MaxAbsDiff(ln.Slice(0, r, r+1), l) != 0 {
			t.Errorf("layernorm row %d", r)
		}
	}
}
