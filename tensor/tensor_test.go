package tensor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestConstructors(t *testing.T) {
	if got := Full(2.5, 2, 3).ToSlice(); got[5] != 2.5 || len(got) != 6 {
		t.Fatalf("Full: %v", got)
	}
	if got := Ones(3).ToSlice(); got[0] != 1 || got[2] != 1 {
		t.Fatalf("Ones: %v", got)
	}
	s := Scalar(7)
	if s.NDim() != 0 || s.Numel() != 1 || s.Item() != 7 {
		t.Fatalf("Scalar: %v", s)
	}
	a := Arange(5)
	if a.At(4) != 4 || a.At(-1) != 4 {
		t.Fatal("Arange/At")
	}
	buf := f32s(1, 2, 3, 4, 5, 6)
	x := FromSlice(buf, 2, 3)
	x.Set(9, 1, -1)
	if buf[5] != 9 {
		t.Fatal("FromSlice must not copy")
	}
	if x.Dim(-1) != 3 || x.Dim(0) != 2 || !x.IsContiguous() {
		t.Fatal("Dim/IsContiguous")
	}
	if st := x.Strides(); st[0] != 3 || st[1] != 1 {
		t.Fatalf("strides %v", st)
	}
	z := ZerosLike(x)
	if !SameShape(z.Shape(), []int{2, 3}) || z.At(1, 2) != 0 {
		t.Fatal("ZerosLike")
	}
	se := mustPanicShape(t, func() { FromSlice(buf, 4, 2) })
	if !strings.Contains(se.Error(), "[4 2]") {
		t.Fatalf("FromSlice error: %v", se)
	}
}

func TestViewsShareStorage(t *testing.T) {
	base := Arange(24).Reshape(2, 3, 4)
	views := []struct {
		name string
		v    *Tensor
		idx  []int // index into v
		bidx []int // same element in base
	}{
		{"Reshape", base.Reshape(6, -1), []int{4, 1}, []int{1, 1, 1}},
		{"Transpose", base.Transpose(0, 2), []int{3, 1, 0}, []int{0, 1, 3}},
		{"Permute", base.Permute(2, 0, 1), []int{1, 1, 2}, []int{1, 2, 1}},
		{"Slice", base.Slice(2, 1, 3), []int{1, 2, 1}, []int{1, 2, 2}},
		{"SliceNeg", base.Slice(1, -2, 3), []int{0, 0, 0}, []int{0, 1, 0}},
		{"Index", base.Index(1, 2), []int{1, 3}, []int{1, 2, 3}},
		{"Unsqueeze", base.Unsqueeze(1), []int{1, 0, 2, 3}, []int{1, 2, 3}},
		{"Squeeze", base.Unsqueeze(-1).Squeeze(3), []int{0, 1, 1}, []int{0, 1, 1}},
		{"Expand", base.Index(0, 0).Index(0, 0).Unsqueeze(0).Expand(5, 4), []int{3, 2}, []int{0, 0, 2}},
		{"T", base.Index(0, 1).T(), []int{3, 0}, []int{1, 0, 3}},
	}
	for _, c := range views {
		if got, want := c.v.At(c.idx...), base.At(c.bidx...); got != want {
			t.Errorf("%s: At = %v, want %v", c.name, got, want)
		}
		c.v.Set(-100, c.idx...)
		if base.At(c.bidx...) != -100 {
			t.Errorf("%s: write through view not seen in base", c.name)
		}
		base.Set(float32(numelIndex(base, c.bidx)), c.bidx...)
	}
	// Contiguous returns itself when possible; Clone never shares.
	if base.Contiguous() != base {
		t.Error("Contiguous of contiguous must be the same tensor")
	}
	c := base.Clone()
	c.Set(42, 0, 0, 0)
	if base.At(0, 0, 0) == 42 {
		t.Error("Clone shares storage")
	}
}

func numelIndex(t *Tensor, idx []int) int {
	off := 0
	for i, v := range idx {
		off = off*t.shape[i] + v
	}
	return off
}

func TestReshapeViewOrCopy(t *testing.T) {
	x := Arange(24).Reshape(2, 3, 4)
	cases := []struct {
		name  string
		src   *Tensor
		shape []int
		view  bool
	}{
		{"contiguous", x, []int{4, 6}, true},
		{"infer", x, []int{-1, 4}, true},
		{"scalarish", Arange(1), []int{}, true},
		{"transposed merge impossible", x.Transpose(1, 2), []int{2, 12}, false},
		{"transposed split ok", x.Transpose(0, 1), []int{3, 2, 2, 2}, true},
		{"sliced rows merge", x.Slice(2, 0, 2), []int{6, 2}, true},
		{"sliced cols flat", x.Slice(2, 0, 2), []int{12}, false},
		{"expanded", Arange(4).Expand(3, 4), []int{3, 2, 2}, true},
	}
	for _, c := range cases {
		r := c.src.Reshape(c.shape...)
		want := c.src.ToSlice()
		got := r.ToSlice()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: element %d = %v, want %v", c.name, i, got[i], want[i])
			}
		}
		shared := len(r.data) > 0 && &r.data[0] == &c.src.data[0]
		if shared != c.view {
			t.Errorf("%s: view=%v, want %v", c.name, shared, c.view)
		}
	}
	se := mustPanicShape(t, func() { x.Reshape(5, -1) })
	if !strings.Contains(se.Error(), "[2 3 4]") {
		t.Errorf("Reshape error: %v", se)
	}
}

func TestShapeErrorMessages(t *testing.T) {
	cases := []struct {
		name string
		f    func()
		want []string
	}{
		{"Add", func() { Add(New(2, 3), New(4, 3)) }, []string{"tensor.Add: shapes [2 3] and [4 3] are not broadcastable"}},
		{"MatMul", func() { MatMul(New(2, 3), New(4, 5)) }, []string{"tensor.MatMul", "[2 3]", "[4 5]", "inner dims 3 and 4"}},
		{"IndexSelect", func() { IndexSelect(New(5, 2), 0, []int{1, 7}) }, []string{"tensor.IndexSelect", "index 7", "size 5"}},
		{"Axis", func() { Sum(New(2, 3), []int{2}, false) }, []string{"tensor.Sum", "[2 3]", "axis 2"}},
		{"Expand", func() { New(2, 3).Expand(4, 3) }, []string{"[2 3]", "[4 3]"}},
		{"AddInPlace", func() { New(2, 3).AddInPlace(New(2, 4)) }, []string{"[2 3]", "[2 4]"}},
		{"Concat", func() { Concat([]*Tensor{New(2, 3), New(3, 4)}, 0) }, []string{"[2 3]", "[3 4]"}},
		{"Squeeze", func() { New(2, 3).Squeeze(1) }, []string{"[2 3]", "size 3"}},
	}
	for _, c := range cases {
		se := mustPanicShape(t, c.f)
		for _, w := range c.want {
			if !strings.Contains(se.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, se.Error(), w)
			}
		}
	}
}

func TestCatch(t *testing.T) {
	f := func() (err error) {
		defer Catch(&err)
		Add(New(2), New(3))
		return nil
	}
	var se *ShapeError
	if err := f(); !errors.As(err, &se) || se.Op != "Add" || len(se.Shapes) != 2 {
		t.Fatalf("Catch: %v", err)
	}
	g := func() (err error) {
		defer Catch(&err)
		return nil
	}
	if g() != nil {
		t.Fatal("Catch without panic must leave err nil")
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("non-error panic must be re-raised, got %v", r)
		}
	}()
	func() {
		var err error
		defer Catch(&err)
		panic("boom")
	}()
}

func TestInPlace(t *testing.T) {
	x := Zeros(2, 3)
	x.Fill(1)
	x.AddInPlace(FromSlice(f32s(1, 2, 3), 3))
	x.AxpyInPlace(2, Scalar(1))
	x.ScaleInPlace(0.5)
	assertClose(t, "inplace", x, []float64{2, 2.5, 3, 2, 2.5, 3}, []int{2, 3}, 0)
	// Through a strided view: only the view's elements change.
	y := Zeros(3, 4)
	v := y.T().Slice(0, 1, 3) // [2,3] view with strides [1,4]
	v.CopyFrom(FromSlice(f32s(1, 2, 3), 3, 1).T().Reshape(3).Unsqueeze(0))
	v.AddInPlace(Ones(2, 3))
	v.Fill(v.At(0, 0)) // strided Fill
	want := []float64{0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0}
	assertClose(t, "strided inplace", y, want, []int{3, 4}, 0)
}

func TestString(t *testing.T) {
	cases := []struct {
		t    *Tensor
		want string
	}{
		{FromSlice(f32s(1, 2.5, 3, 4), 2, 2), "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])"},
		{Arange(3), "tensor([0., 1., 2.])"},
		{Scalar(-2), "tensor(-2.)"},
		{Arange(8).Reshape(2, 2, 2), "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])"},
		{New(0, 3), "tensor([], size=[0 3])"},
	}
	for _, c := range cases {
		if got := c.t.String(); got != c.want {
			t.Errorf("got\n%s\nwant\n%s", got, c.want)
		}
	}
	big := Arange(5000).Reshape(50, 100).String()
	if !strings.Contains(big, "...") || len(big) > 1000 || !strings.Contains(big, "4999.") {
		t.Errorf("big tensor not summarized:\n%s", big)
	}
	if s := fmt.Sprint(FromSlice(f32s(1e-6, 1), 2)); !strings.Contains(s, "e-06") {
		t.Errorf("wide range should use scientific notation: %s", s)
	}
}

// fakeBackend keeps "device" memory in host slices and counts calls.
type fakeDev struct{ id int }

func (d fakeDev) String() string { return fmt.Sprintf("fake:%d", d.id) }

var fakeDevs int // each test run registers a fresh device

type fakeBuf []float32

func (b fakeBuf) Len() int { return len(b) }

type fakeBackend struct {
	dev    fakeDev
	sgemms int
}

func (f *fakeBackend) Device() Device { return f.dev }
func (*fakeBackend) Upload(h []float32) (Buffer, error) {
	return fakeBuf(append([]float32(nil), h...)), nil
}
func (*fakeBackend) Download(b Buffer, h []float32) error { copy(h, b.(fakeBuf)); return nil }
func (f *fakeBackend) Sgemm(ta, tb bool, m, n, k int, alpha float32, a Buffer, aOff, lda int, b Buffer, bOff, ldb int, beta float32, c Buffer, cOff, ldc int) error {
	f.sgemms++
	A := FromSlice(a.(fakeBuf), a.Len())
	B := FromSlice(b.(fakeBuf), b.Len())
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				ai, bi := aOff+i*lda+p, bOff+p*ldb+j
				if ta {
					ai = aOff + p*lda + i
				}
				if tb {
					bi = bOff + j*ldb + p
				}
				s += A.data[ai] * B.data[bi]
			}
			c.(fakeBuf)[cOff+i*ldc+j] = alpha * s
		}
	}
	return nil
}

func TestDeviceSeam(t *testing.T) {
	x := randT(1, 2, 3, 4)
	if x.Device() != CPU || CPU.String() != "cpu" {
		t.Fatal("default device must be CPU")
	}
	if y, err := x.To(CPU); err != nil || y != x {
		t.Fatal("To(CPU) on a CPU tensor must return it")
	}
	fakeDevs++
	dev := fakeDev{fakeDevs}
	if _, err := x.To(dev); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Fatalf("To unregistered device: %v", err)
	}
	be := &fakeBackend{dev: dev}
	RegisterBackend(be)
	xd, err := x.To(dev)
	if err != nil || xd.Device() != dev {
		t.Fatalf("upload: %v", err)
	}
	w := randT(2, 5, 4)
	wd, _ := w.To(dev)
	yd := MatMulT(xd, wd, false, true)
	if be.sgemms != 2 {
		t.Errorf("want 2 device sgemms, got %d", be.sgemms)
	}
	y, err := yd.To(CPU)
	if err != nil {
		t.Fatal(err)
	}
	if d := MaxAbsDiff(y, MatMulT(x, w, false, true)); d > 1e-5 {
		t.Errorf("device matmul differs by %g", d)
	}
	// No silent transfers: host ops on device tensors panic clearly.
	var perr error
	func() {
		defer Catch(&perr)
		Add(xd, xd)
	}()
	var de *DeviceError
	if !errors.As(perr, &de) || !strings.Contains(perr.Error(), dev.String()) {
		t.Fatalf("want DeviceError naming the device, got %v", perr)
	}
	if s := xd.String(); !strings.Contains(s, dev.String()) {
		t.Errorf("device String: %s", s)
	}
}
