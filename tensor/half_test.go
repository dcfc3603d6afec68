package tensor

import (
	"errors"
	"math"
	"testing"
)

func sameBitsT(t *testing.T, what string, got, want *Tensor) {
	t.Helper()
	if !SameShape(got.shape, want.shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.shape, want.shape)
	}
	g, w := got.ToSlice(), want.ToSlice()
	for i := range g {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, g[i], w[i])
		}
	}
}

func TestHalfStorage(t *testing.T) {
	r := NewRNG(1)
	x := r.Normal(0, 1, 3, 5)
	h := x.Half()
	if h.DType() != Float16 || x.DType() != Float32 || h.Half() != h || x.Float() != x {
		t.Fatal("DType / Half / Float identities")
	}
	f := h.Float()
	for i, v := range x.ToSlice() {
		w := f.ToSlice()[i]
		if math.Abs(float64(w-v)) > math.Abs(float64(v))/2048+1e-7 {
			t.Fatalf("element %d: %g rounds to %g", i, v, w)
		}
	}
	sameBitsT(t, "Half of the widened", f.Half().Float(), f)
	if h.At(1, 2) != f.At(1, 2) {
		t.Fatal("At")
	}
	c := h.Clone()
	if c.DType() != Float16 {
		t.Fatal("Clone of a float16 tensor is float16")
	}
	sameBitsT(t, "Clone", c, f)
	// Views keep the storage type; widening a view = the view of the widened.
	sameBitsT(t, "T", h.T().Float(), f.T().Contiguous())
	sameBitsT(t, "Slice", h.Slice(1, 1, 4).Float(), f.Slice(1, 1, 4).Contiguous())
	sameBitsT(t, "T().Contiguous()", h.T().Contiguous(), f.T().Contiguous())
	if h.T().Contiguous().DType() != Float16 {
		t.Fatal("Contiguous of a float16 view is float16")
	}
	// Ops that compute refuse float16 with a DTypeError that says what to do.
	for name, op := range map[string]func(){
		"Add":  func() { Add(h, h) },
		"Exp":  func() { Exp(h) },
		"Data": func() { h.Data() },
		"Sum":  func() { Sum(h, nil, false) },
		"Fill": func() { h.Fill(1) },
	} {
		func() {
			var err error
			defer func() {
				var de *DTypeError
				if !errors.As(err, &de) || de.DType != Float16 {
					t.Errorf("%s on float16: err %v, want a *DTypeError", name, err)
				}
			}()
			defer Catch(&err)
			op()
		}()
	}
}

// TestMatMulHalf: products with a float16 operand equal, bit for bit, the
// products with its widened copy, on every route (one product, a tall
// product over a batch, a strided batch, a transposed weight, a float16 a).
// TestEveryTier runs it on every tier.
func TestMatMulHalf(t *testing.T) {
	{
		r := NewRNG(2)
		w := r.Normal(0, 0.1, 70, 40).Half() // Linear weight [out, in]
		wf := w.Float()
		x := r.Normal(0, 1, 3, 13, 40)
		sameBitsT(t, "x·Wᵀ (tall)", MatMulT(x, w, false, true), MatMulT(x, wf, false, true))
		sameBitsT(t, "x·Wᵀ (one)", MatMulT(x.Slice(0, 0, 1).Reshape(13, 40), w, false, true), MatMulT(x.Slice(0, 0, 1).Reshape(13, 40), wf, false, true))
		g := r.Normal(0, 1, 3, 13, 70)
		sameBitsT(t, "dY·W", MatMul(g, w), MatMul(g, wf))
		sameBitsT(t, "x·(Wᵀ view)", MatMul(x, w.T()), MatMul(x, wf.T()))
		xt := x.Transpose(0, 1) // [13, 3, 40]: not one tall product
		sameBitsT(t, "strided batch", MatMulT(xt, w, false, true), MatMulT(xt, wf, false, true))
		wb := r.Normal(0, 0.1, 3, 70, 40).Half()
		sameBitsT(t, "batched b", MatMulT(x, wb, false, true), MatMulT(x, wb.Float(), false, true))
		sameBitsT(t, "float16 a", MatMulT(w, x.Slice(0, 0, 1).Reshape(13, 40), false, true), MatMulT(wf, x.Slice(0, 0, 1).Reshape(13, 40), false, true))
	}
}

// TestPrepackLinear: a prepacked weight is the float16 weight to every op,
// bit for bit: products as x·wᵀ (read in place), the products it is
// widened for, and the unpacking reads; it has no views and other ops
// refuse it. TestEveryTier runs it on every tier (the panels are packed for
// the current tier's kernels: in place with the AVX-512 half kernels).
func TestPrepackLinear(t *testing.T) {
	r := NewRNG(4)
	for _, s := range [][2]int{{70, 40}, {130, 400}, {1, 1}} { // [out, in]: ragged panels, several KC blocks
		w := r.Normal(0, 0.1, s[0], s[1])
		wh := w.Half()
		wf := wh.Float()
		p := w.PrepackLinear()
		if p.DType() != Float16 || p.PrepackLinear() != p || p.Half() != p || wh.PrepackLinear().DType() != Float16 {
			t.Fatal("DType / PrepackLinear / Half identities")
		}
		sameBitsT(t, "Float", p.Float(), wf)
		sameBitsT(t, "Clone", p.Clone().Float(), wf)
		sameBitsT(t, "PrepackLinear of the float16 weight", wh.PrepackLinear().Float(), wf)
		if got, want := p.At(s[0]-1, s[1]/2), wf.At(s[0]-1, s[1]/2); got != want {
			t.Fatalf("At = %g, want %g", got, want)
		}
		hd := p.HalfData()
		for i, v := range wh.HalfData() {
			if hd[i] != v {
				t.Fatalf("HalfData differs at %d", i)
			}
		}
		x := r.Normal(0, 1, 3, 13, s[1])
		x1 := x.Slice(0, 0, 1).Reshape(13, s[1])
		sameBitsT(t, "x·wᵀ (tall)", MatMulT(x, p, false, true), MatMulT(x, wf, false, true))
		sameBitsT(t, "x·wᵀ (one)", MatMulT(x1, p, false, true), MatMulT(x1, wf, false, true))
		xt := x.Transpose(0, 1) // [13, 3, in]: not one tall product
		sameBitsT(t, "strided batch", MatMulT(xt, p, false, true), MatMulT(xt, wf, false, true))
		sameBitsT(t, "xᵀ as a", MatMulT(x1.T(), p, true, true), MatMulT(x1.T(), wf, true, true))
		g := r.Normal(0, 1, 3, 13, s[0])
		sameBitsT(t, "dY·w (widened)", MatMul(g, p), MatMul(g, wf))
		sameBitsT(t, "w as a", MatMulT(p, x1, false, true), MatMulT(wf, x1, false, true))
	}
	w := r.Normal(0, 1, 6, 5)
	p := w.PrepackLinear()
	if got, want := p.String(), w.Half().Float().String(); got != want[:len(want)-1]+", dtype=float16)" || w.Half().String() != got {
		t.Fatalf("String of a prepacked weight:\n%s\nwant the widened values with dtype=float16:\n%s", got, want)
	}
	for name, f := range map[string]func(){
		"T":        func() { p.T() },
		"Reshape":  func() { p.Reshape(5, 6) },
		"Add":      func() { Add(p, p) },
		"Concat":   func() { Concat([]*Tensor{p, p}, 0) },
		"IndexAdd": func() { IndexAdd(New(6, 5), 0, []int{0}, p.Float().Slice(0, 0, 1).Half()) },
		"3-D":      func() { New(2, 3, 4).PrepackLinear() },
	} {
		var err error
		func() {
			defer Catch(&err)
			f()
		}()
		var de *DTypeError
		var se *ShapeError
		if err == nil || name != "3-D" && !errors.As(err, &de) || name == "3-D" && !errors.As(err, &se) {
			t.Fatalf("%s on a prepacked weight: err = %v", name, err)
		}
	}
}

func TestIndexSelectHalf(t *testing.T) {
	e := NewRNG(3).Normal(0, 0.02, 11, 6).Half()
	ids := []int{3, 0, 10, 3}
	got := IndexSelect(e, 0, ids)
	if got.DType() != Float32 {
		t.Fatal("IndexSelect of a float16 table gives float32 rows")
	}
	sameBitsT(t, "rows", got, IndexSelect(e.Float(), 0, ids))
	sameBitsT(t, "columns", IndexSelect(e, 1, []int{5, 1}), IndexSelect(e.Float(), 1, []int{5, 1}))
	var err error
	func() {
		defer Catch(&err)
		IndexSelect(e, 0, []int{11})
	}()
	if err == nil {
		t.Fatal("out-of-range index on a float16 table: no error")
	}
}
