package nn

import (
	"math"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

func TestLinearForward(t *testing.T) {
	r := newRand(1)
	for _, bias := range []bool{true, false} {
		l := NewLinear(Random(tensor.NewRNG(1)), "", 5, 4, bias)
		randomize(r, l, 0.5)
		x := randT(r, 1, 2, 3, 5)
		y := l.Forward(autograd.Constant(x))
		if got := y.Shape(); !tensor.SameShape(got, []int{2, 3, 4}) {
			t.Fatalf("bias=%v: shape %v, want [2 3 4]", bias, got)
		}
		var b []float64
		if bias {
			b = f64(l.Bias.Value)
		}
		checkClose(t, "linear", y.Value, refLinear(f64(x), 6, 5, f64(l.Weight.Value), 4, b), 1e-6, 1e-5)
	}
}

// moments returns min, max, mean and variance of t.
func moments(t *tensor.Tensor) (lo, hi, mean, vr float64) {
	v := f64(t)
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi, mean = math.Min(lo, x), math.Max(hi, x), mean+x
	}
	mean /= float64(len(v))
	for _, x := range v {
		vr += (x - mean) * (x - mean)
	}
	return lo, hi, mean, vr / float64(len(v))
}

func TestLinearInit(t *testing.T) {
	l := NewLinear(Random(tensor.NewRNG(7)), "", 256, 128, true)
	bound := 1 / 16.0
	lo, hi, mean, vr := moments(l.Weight.Value)
	if lo < -bound || hi > bound || hi < 0.95*bound || lo > -0.95*bound {
		t.Errorf("weight range [%g, %g], want filling ±%g", lo, hi, bound)
	}
	if math.Abs(mean) > 0.02*bound || math.Abs(vr/(bound*bound/3)-1) > 0.05 {
		t.Errorf("weight mean %g var %g, want 0 and %g (U(±1/√in))", mean, vr, bound*bound/3)
	}
	lo, hi, _, _ = moments(l.Bias.Value)
	if lo < -bound || hi > bound || hi-lo < bound {
		t.Errorf("bias range [%g, %g], want within and spread over ±%g", lo, hi, bound)
	}
	if z := NewLinear(Random(nil), "", 3, 2, true); tensor.MaxAbsDiff(z.Weight.Value, tensor.Zeros(2, 3)) != 0 {
		t.Errorf("nil rng: weight not zero")
	}
}

func TestEmbedding(t *testing.T) {
	e := NewEmbedding(Random(tensor.NewRNG(3)), "", 1000, 64, 1)
	_, _, mean, vr := moments(e.Weight.Value)
	if math.Abs(mean) > 0.02 || math.Abs(vr-1) > 0.03 {
		t.Errorf("init mean %g var %g, want N(0,1)", mean, vr)
	}
	ids := []int{5, 0, 999, 5, 17, 3}
	y := e.Forward(ids, 2, 3)
	if !tensor.SameShape(y.Shape(), []int{2, 3, 64}) {
		t.Fatalf("shape %v, want [2 3 64]", y.Shape())
	}
	w := f64(e.Weight.Value)
	var want []float64
	for _, id := range ids {
		want = append(want, w[id*64:(id+1)*64]...)
	}
	checkClose(t, "embedding", y.Value, want, 0, 0)
}

func TestLayerNorm(t *testing.T) {
	r := newRand(2)
	ln := NewLayerNorm(Random(nil), "", 16)
	randomize(r, ln, 0.5)
	x := tensor.AddScalar(randT(r, 3, 3, 4, 16), 2) // non-zero mean
	y := ln.Forward(autograd.Constant(x))
	want := refLayerNorm(f64(x), 12, 16, f64(ln.Weight.Value), f64(ln.Bias.Value), 1e-5)
	checkClose(t, "layernorm", y.Value, want, 1e-5, 1e-5)
	// Defaults: ones and zeros, eps 1e-5.
	d := NewLayerNorm(Random(nil), "", 4)
	if d.Eps != 1e-5 || d.Weight.Value.At(2) != 1 || d.Bias.Value.At(2) != 0 {
		t.Errorf("defaults eps %g w %g b %g", d.Eps, d.Weight.Value.At(2), d.Bias.Value.At(2))
	}
}

func TestMultiheadAttention(t *testing.T) {
	for _, c := range []struct {
		n, l, dim, heads int
		causal           bool
	}{
		{2, 5, 16, 2, false}, {2, 5, 16, 2, true},
		{1, 7, 12, 3, false}, {3, 4, 12, 3, true},
		{2, 6, 16, 1, true}, {1, 9, 128, 2, true}, // head dim 64: scale 0.125 as CLIP
	} {
		r := newRand(uint64(10 + c.dim + c.heads))
		m := NewMultiheadAttention(Random(tensor.NewRNG(5)), "", c.dim, c.heads)
		randomize(r, m, 0.4)
		m.RecordAttn = true
		x := randT(r, 1, c.n, c.l, c.dim)
		y := m.Forward(autograd.Constant(x), c.causal)
		want, probs := refMHA(f64(x), c.n, c.l, c.dim, c.heads, f64(m.InProjWeight.Value), f64(m.InProjBias.Value),
			f64(m.OutProj.Weight.Value), f64(m.OutProj.Bias.Value), c.causal)
		checkClose(t, "mha", y.Value, want, 1e-5, 1e-4)
		if m.LastAttn == nil || !tensor.SameShape(m.LastAttn.Shape(), []int{c.n, c.heads, c.l, c.l}) {
			t.Fatalf("LastAttn missing or wrong shape")
		}
		checkClose(t, "mha probs", m.LastAttn.Value, probs, 1e-6, 1e-5)
	}
}

// Causal rows never depend on later positions: changing tokens ≥ k leaves
// outputs < k bit-identical, through a whole causal Transformer.
func TestCausalIndependence(t *testing.T) {
	r := newRand(4)
	tr := NewTransformer(Random(tensor.NewRNG(9)), "", 16, 2, 2, true)
	randomize(r, tr, 0.3)
	x := randT(r, 1, 2, 6, 16)
	x2 := x.Clone()
	x2.Slice(1, 4, 6).CopyFrom(randT(r, 5, 2, 2, 16))
	y := tr.Forward(autograd.Constant(x)).Value.Slice(1, 0, 4)
	y2 := tr.Forward(autograd.Constant(x2)).Value.Slice(1, 0, 4)
	if d := tensor.MaxAbsDiff(y, y2); d != 0 {
		t.Errorf("positions 0..3 changed by %g when positions 4..5 changed", d)
	}
	full := tr.Forward(autograd.Constant(x2)).Value.Slice(1, 4, 6)
	if tensor.MaxAbsDiff(full, tr.Forward(autograd.Constant(x)).Value.Slice(1, 4, 6)) == 0 {
		t.Errorf("later positions did not change at all")
	}
}

func TestResidualAttentionBlock(t *testing.T) {
	for _, causal := range []bool{false, true} {
		r := newRand(6)
		b := NewResidualAttentionBlock(Random(tensor.NewRNG(2)), "", 16, 2, causal)
		randomize(r, b, 0.3)
		x := randT(r, 1, 2, 5, 16)
		y := b.Forward(autograd.Constant(x))
		checkClose(t, "block", y.Value, refBlock(f64(x), 2, 5, 16, 2, b), 1e-5, 1e-4)

		tr := &Transformer{Width: 16, Layers: 2, Heads: 2, Resblocks: []*ResidualAttentionBlock{b, b}}
		want := refBlock(refBlock(f64(x), 2, 5, 16, 2, b), 2, 5, 16, 2, b)
		checkClose(t, "transformer", tr.Forward(autograd.Constant(x)).Value, want, 1e-4, 1e-4)
	}
}

// TestForwardFirst: the first rows of a block computed alone are Forward's,
// bit for bit, causal or not, with the gradient to the input the same as
// through Forward's first rows; with a hook registered the block runs
// whole (the hook sees every row) and the rows are the same.
func TestForwardFirst(t *testing.T) {
	for _, causal := range []bool{false, true} {
		r := newRand(7)
		b := NewResidualAttentionBlock(Random(tensor.NewRNG(4)), "", 16, 2, causal)
		randomize(r, b, 0.3)
		x := randT(r, 1, 3, 9, 16)
		g := randT(r, 1, 3, 2, 16)
		for _, nq := range []int{1, 2, 9} {
			xa, xb := autograd.Param(x.Clone()), autograd.Param(x.Clone())
			want := autograd.Slice(b.Forward(xa), 1, 0, nq)
			got := b.ForwardFirst(xb, nq)
			if !tensor.SameShape(got.Shape(), []int{3, nq, 16}) || tensor.MaxAbsDiff(got.Value, want.Value) != 0 {
				t.Fatalf("causal=%v nq=%d: ForwardFirst %v differs from Forward's first rows by %g", causal, nq, got.Shape(), tensor.MaxAbsDiff(got.Value, want.Value))
			}
			// The weights' gradients too (a block trained through
			// ForwardFirst, as clip.Pretrainer's image tower is).
			gq := g.Slice(1, 0, min(nq, 2))
			params := b.NamedParameters("")
			for _, p := range params {
				p.Var.ZeroGrad()
			}
			autograd.Slice(want, 1, 0, min(nq, 2)).BackwardWith(gq)
			wantGrads := make([]*tensor.Tensor, len(params))
			for i, p := range params {
				wantGrads[i] = p.Var.Grad.Clone()
				p.Var.ZeroGrad()
			}
			autograd.Slice(got, 1, 0, min(nq, 2)).BackwardWith(gq)
			checkClose(t, "input gradient", xb.Grad, f64(xa.Grad), 1e-6, 1e-5)
			for i, p := range params {
				checkClose(t, p.Name+" gradient", p.Var.Grad, f64(wantGrads[i]), 1e-6, 1e-5)
				p.Var.ZeroGrad()
			}
		}
		var seen []int
		h := b.RegisterForwardHook(func(_, out *autograd.Var) *autograd.Var { seen = out.Shape(); return nil })
		got := b.ForwardFirst(autograd.Constant(x), 1)
		h.Remove()
		if !tensor.SameShape(seen, []int{3, 9, 16}) || tensor.MaxAbsDiff(got.Value, b.Forward(autograd.Constant(x)).Value.Slice(1, 0, 1)) != 0 {
			t.Fatalf("hooked: the hook saw %v, want the whole block [3 9 16]", seen)
		}
	}
}

// TestForwardPacked: a causal block on packed rows equals Forward on the
// sequences laid out one per batch row: two sequences of their own (with
// input gradients), and a third that reuses the first one's first two rows
// as its shared prefix.
func TestForwardPacked(t *testing.T) {
	r := newRand(11)
	b := NewResidualAttentionBlock(Random(tensor.NewRNG(3)), "", 16, 2, true)
	randomize(r, b, 0.3)
	x := autograd.Param(randT(r, 1, 11, 16)) // rows: seq A 0..4, seq B 5..7, seq C (A's 0..1 +) 8..10
	seqs := []autograd.PackedSeq{
		{Rows: []int{0, 1, 2, 3, 4}},
		{Rows: []int{5, 6, 7}},
		{Rows: []int{0, 1, 8, 9, 10}, Own: 2},
	}
	g := randT(r, 1, 11, 16)
	y := b.ForwardPacked(x, seqs) // [11, 16]
	y.BackwardWith(g)
	for i, sq := range seqs {
		rows := sq.Rows
		xs := autograd.Param(tensor.IndexSelect(x.Value, 0, rows).Reshape(1, len(rows), 16)) // [1, n, 16]
		ys := b.Forward(xs)
		own := rows[sq.Own:]
		want := ys.Value.Reshape(len(rows), 16).Slice(0, sq.Own, len(rows))
		checkClose(t, "packed seq "+itoa(i), tensor.IndexSelect(y.Value, 0, own), f64(want), 1e-6, 1e-5)
		if sq.Own == 0 && i == 1 { // B shares nothing: its input gradient is its own
			ys.BackwardWith(tensor.IndexSelect(g, 0, rows).Reshape(1, len(rows), 16))
			checkClose(t, "packed grad seq "+itoa(i), tensor.IndexSelect(x.Grad, 0, rows), f64(xs.Grad.Reshape(len(rows), 16)), 1e-6, 1e-5)
		}
	}
}

// TestForwardPackedRows: a packed block computed at some rows only (the
// text tower's last block at the EOT rows) gives ForwardPacked's values at
// those rows bit for bit and its input gradient, and with a hook
// registered it runs the whole block (the hook sees every row).
func TestForwardPackedRows(t *testing.T) {
	r := newRand(11)
	b := NewResidualAttentionBlock(Random(tensor.NewRNG(3)), "", 16, 2, true)
	randomize(r, b, 0.3)
	x := randT(r, 1, 11, 16)
	seqs := []autograd.PackedSeq{
		{Rows: []int{0, 1, 2, 3, 4}},
		{Rows: []int{5, 6, 7}},
		{Rows: []int{0, 1, 8, 9, 10}, Own: 2},
	}
	rows := []int{4, 7, 10, 2} // any rows, in any order
	g := randT(r, 1, len(rows), 16)
	xa, xb := autograd.Param(x.Clone()), autograd.Param(x.Clone())
	want := autograd.IndexSelect(b.ForwardPacked(xa, seqs), 0, rows)
	got := b.ForwardPackedRows(xb, seqs, rows)
	if !tensor.SameShape(got.Shape(), []int{len(rows), 16}) || tensor.MaxAbsDiff(got.Value, want.Value) != 0 {
		t.Fatalf("ForwardPackedRows %v differs from ForwardPacked's rows by %g", got.Shape(), tensor.MaxAbsDiff(got.Value, want.Value))
	}
	want.BackwardWith(g)
	got.BackwardWith(g)
	checkClose(t, "input gradient", xb.Grad, f64(xa.Grad), 1e-6, 1e-5)

	var seen []int
	h := b.RegisterForwardHook(func(_, out *autograd.Var) *autograd.Var { seen = out.Shape(); return nil })
	hooked := b.ForwardPackedRows(autograd.Constant(x), seqs, rows)
	h.Remove()
	if !tensor.SameShape(seen, []int{11, 16}) || tensor.MaxAbsDiff(hooked.Value, want.Value) != 0 {
		t.Fatalf("hooked: the hook saw %v, want the whole block [11 16]", seen)
	}
}

func TestPatchEmbed(t *testing.T) {
	for _, c := range []struct{ n, ch, h, w, p, dim int }{
		{2, 3, 8, 12, 4, 5}, {1, 3, 9, 10, 3, 7}, {1, 2, 16, 16, 16, 4},
	} {
		r := newRand(uint64(c.h*c.w + c.p))
		pe := NewPatchEmbed(Random(tensor.NewRNG(1)), "", c.ch, c.dim, c.p)
		x := randT(r, 1, c.n, c.ch, c.h, c.w)
		y := pe.Forward(autograd.Constant(x))
		gh, gw := c.h/c.p, c.w/c.p
		if !tensor.SameShape(y.Shape(), []int{c.n, gh * gw, c.dim}) {
			t.Fatalf("shape %v, want [%d %d %d]", y.Shape(), c.n, gh*gw, c.dim)
		}
		want := refConv(f64(x), c.n, c.ch, c.h, c.w, f64(pe.Weight.Value), c.dim, c.p)
		checkClose(t, "patch embed", y.Value, want, 1e-5, 1e-4)
	}
}

// The gradient of Σ out·R through PatchEmbed, against the closed form:
// dW[d,c,ky,kx] = Σ R[n,g,d]·x[n,c,gy·P+ky,gx·P+kx], dx likewise.
func TestPatchEmbedGrad(t *testing.T) {
	const n, ch, h, w, p, dim = 2, 3, 8, 12, 4, 5
	r := newRand(8)
	pe := NewPatchEmbed(Random(tensor.NewRNG(1)), "", ch, dim, p)
	x := autograd.Param(randT(r, 1, n, ch, h, w))
	gh, gw := h/p, w/p
	rt := randT(r, 1, n, gh*gw, dim)
	fakeLoss(pe.Forward(x), rt).Backward()
	xs, ws, rs := f64(x.Value), f64(pe.Weight.Value), f64(rt)
	dW := make([]float64, len(ws))
	dx := make([]float64, len(xs))
	for b := 0; b < n; b++ {
		for d := 0; d < dim; d++ {
			for gy := 0; gy < gh; gy++ {
				for gx := 0; gx < gw; gx++ {
					g := rs[(b*gh*gw+gy*gw+gx)*dim+d]
					for c := 0; c < ch; c++ {
						for ky := 0; ky < p; ky++ {
							for kx := 0; kx < p; kx++ {
								xi := ((b*ch+c)*h+gy*p+ky)*w + gx*p + kx
								wi := ((d*ch+c)*p+ky)*p + kx
								dW[wi] += g * xs[xi]
								dx[xi] += g * ws[wi]
							}
						}
					}
				}
			}
		}
	}
	if pe.Weight.Grad == nil || x.Grad == nil {
		t.Fatalf("missing gradients: weight %v, input %v", pe.Weight.Grad != nil, x.Grad != nil)
	}
	checkClose(t, "dW", pe.Weight.Grad, dW, 1e-5, 1e-4)
	checkClose(t, "dx", x.Grad, dx, 1e-5, 1e-4)
}
