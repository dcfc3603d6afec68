package tensor

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// kernelFake is the fake backend of TestDeviceSeam plus Kernels and
// BatchedSgemm, each computed on the host by the CPU ops from the operands
// it is handed: the device ops must come out as on the CPU if and only if
// the dispatch passes the right shapes, offsets and strides.
type kernelFake struct {
	fakeBackend
	calls map[string]int
}

func (f *kernelFake) view(o Operand, shape []int) *Tensor {
	return &Tensor{shape: shape, strides: o.Strides, offset: o.Off, data: o.Buf.(fakeBuf)}
}

func (f *kernelFake) Alloc(n int) (Buffer, error) { f.calls["alloc"]++; return make(fakeBuf, n), nil }

func (f *kernelFake) Elementwise(op string, shape []int, out Buffer, a, b Operand, s float32) error {
	f.calls[op]++
	A := f.view(a, shape)
	var r *Tensor
	un := map[string]unOp{"neg": opNeg, "exp": opExp, "log": opLog, "sqrt": opSqrt, "tanh": opTanh, "sigmoid": opSigmoid, "relu": opRelu, "square": opSquare}
	bin := map[string]binOp{"add": opAdd, "sub": opSub, "mul": opMul, "div": opDiv, "max": opMax}
	switch {
	case op == "copy":
		r = A.Clone()
	case un[op] != 0 || op == "neg":
		r = unary(op, un[op], A)
	case b.Buf == nil:
		r = binaryScalar(op, bin[op], A, s)
	default:
		r = binary(op, bin[op], A, f.view(b, shape))
	}
	copy(out.(fakeBuf), r.data)
	return nil
}

func (f *kernelFake) Reduce(op string, shape []int, red []bool, out Buffer, a Operand) error {
	f.calls[op]++
	var axes []int
	for i, r := range red {
		if r {
			axes = append(axes, i)
		}
	}
	A := f.view(a, shape)
	r := Sum(A, axes, true)
	if op == "max" {
		r = Max(A, axes, true)
	}
	copy(out.(fakeBuf), r.data)
	return nil
}

func (f *kernelFake) Rows(op string, rows, n int, out Buffer, a Buffer, aOff int) error {
	f.calls[op]++
	A := FromSlice(a.(fakeBuf)[aOff:aOff+rows*n], rows, n)
	r := Softmax(A, -1)
	if op == "logsoftmax" {
		r = LogSoftmax(A, -1)
	}
	copy(out.(fakeBuf), r.data)
	return nil
}

func (f *kernelFake) LayerNorm(rows, d int, eps float32, y, mean, rstd Buffer, x Buffer, xOff int, w, b Operand) error {
	f.calls["layernorm"]++
	var W, B *Tensor
	if w.Buf != nil {
		W = f.view(w, []int{d})
	}
	if b.Buf != nil {
		B = f.view(b, []int{d})
	}
	Y, M, R := LayerNorm(FromSlice(x.(fakeBuf)[xOff:xOff+rows*d], rows, d), W, B, eps)
	copy(y.(fakeBuf), Y.data)
	copy(mean.(fakeBuf), M.data)
	copy(rstd.(fakeBuf), R.data)
	return nil
}

func (f *kernelFake) SgemmStridedBatched(ta, tb bool, m, n, k int, alpha float32, a Buffer, aOff, lda, sa int, b Buffer, bOff, ldb, sb int, beta float32, c Buffer, cOff, ldc, sc, batch int) error {
	f.calls["batched"]++
	for i := 0; i < batch; i++ {
		f.Sgemm(ta, tb, m, n, k, alpha, a, aOff+i*sa, lda, b, bOff+i*sb, ldb, beta, c, cOff+i*sc, ldc)
	}
	return nil
}

func TestDeviceKernelsDispatch(t *testing.T) {
	fakeDevs++
	dev := fakeDev{fakeDevs}
	be := &kernelFake{fakeBackend: fakeBackend{dev: dev}, calls: map[string]int{}}
	RegisterBackend(be)
	to := func(x *Tensor) *Tensor {
		y, err := x.To(dev)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	back := func(x *Tensor) *Tensor {
		if x.Device() != dev {
			t.Fatalf("result on %v, want %v", x.Device(), dev)
		}
		y, err := x.To(CPU)
		if err != nil {
			t.Fatal(err)
		}
		return y
	}
	a := randT(11, 2, 3, 4, 5)
	bias := randT(12, 1, 5)
	pos := AddScalar(Map(a, func(v float32) float32 { return float32(math.Abs(float64(v))) }), 0.5)
	w, b := randT(13, 5), randT(14, 5)
	ad, bd, posd, wd, bdd := to(a), to(bias), to(pos), to(w), to(b)
	// Views: a transposed (strided) operand and an offset slice.
	tr := a.Transpose(1, 3)
	sl := a.Slice(1, 1, 3)
	trd, sld := ad.Transpose(1, 3), ad.Slice(1, 1, 3)
	cases := []struct {
		name     string
		cpu, dev *Tensor
	}{
		{"Add broadcast", Add(a, bias), Add(ad, bd)},
		{"Sub broadcast", Sub(bias, a), Sub(bd, ad)},
		{"Mul strided", Mul(tr, tr), Mul(trd, trd)},
		{"Div", Div(a, pos), Div(ad, posd)},
		{"Maximum", Maximum(a, bias), Maximum(ad, bd)},
		{"AddScalar slice", AddScalar(sl, 2), AddScalar(sld, 2)},
		{"MulScalar", MulScalar(a, -3), MulScalar(ad, -3)},
		{"Exp strided", Exp(tr), Exp(trd)},
		{"Log", Log(pos), Log(posd)},
		{"Sqrt", Sqrt(pos), Sqrt(posd)},
		{"Neg", Neg(a), Neg(ad)},
		{"Tanh", Tanh(a), Tanh(ad)},
		{"Sigmoid", Sigmoid(a), Sigmoid(ad)},
		{"Relu", Relu(a), Relu(ad)},
		{"Square", Square(sl), Square(sld)},
		{"Clone strided", tr.Clone(), trd.Clone()},
		{"Sum axes", Sum(a, []int{0, 2}, false), Sum(ad, []int{0, 2}, false)},
		{"Sum all keepdim", Sum(tr, nil, true), Sum(trd, nil, true)},
		{"Mean", Mean(a, []int{-1}, false), Mean(ad, []int{-1}, false)},
		{"Max", Max(sl, []int{1}, true), Max(sld, []int{1}, true)},
		{"Softmax", Softmax(a, -1), Softmax(ad, -1)},
		{"LogSoftmax strided", LogSoftmax(tr, 3), LogSoftmax(trd, 3)},
		{"MatMul batched", MatMul(a, a.Transpose(2, 3)), MatMul(ad, ad.Transpose(2, 3))},
		{"MatMul broadcast", MatMul(a, randT(15, 5, 2)), MatMul(ad, to(randT(15, 5, 2)))},
	}
	y, m, r := LayerNorm(sl, w, b, 1e-5)
	yd, md, rd := LayerNorm(sld, wd, bdd, 1e-5)
	y0, _, _ := LayerNorm(a, nil, nil, 1e-5)
	y0d, _, _ := LayerNorm(ad, nil, nil, 1e-5)
	cases = append(cases, []struct {
		name     string
		cpu, dev *Tensor
	}{{"LayerNorm y", y, yd}, {"LayerNorm mean", m, md}, {"LayerNorm rstd", r, rd}, {"LayerNorm no affine", y0, y0d}}...)
	for _, c := range cases {
		got := back(c.dev)
		if !SameShape(got.shape, c.cpu.shape) {
			t.Errorf("%s: shape %v, want %v", c.name, got.shape, c.cpu.shape)
			continue
		}
		if d := MaxAbsDiff(got, c.cpu); d > 1e-5 {
			t.Errorf("%s: differs from the CPU by %g", c.name, d)
		}
	}
	for _, op := range []string{"add", "copy", "sum", "max", "softmax", "logsoftmax", "layernorm", "batched"} {
		if be.calls[op] == 0 {
			t.Errorf("kernel %q never called", op)
		}
	}
	// Mixed devices are an error naming both.
	var err error
	func() {
		defer Catch(&err)
		Add(ad, a)
	}()
	var de *DeviceError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "different devices") {
		t.Errorf("mixed devices: %v", err)
	}
	func() {
		defer Catch(&err)
		Softmax(ad, 1)
	}()
	if err == nil || !strings.Contains(err.Error(), "last axis") {
		t.Errorf("softmax on a middle axis: %v", err)
	}
}
