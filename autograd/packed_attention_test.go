package autograd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// packedFixture packs 10 rows in a scrambled order: a prefix of two rows
// (7, 2) owned by sequence 0 and shared by sequences 1–3 of different
// lengths, and sequence 4 standing alone.
var packedFixture = []PackedSeq{
	{Rows: []int{7, 2}},
	{Rows: []int{7, 2, 0, 5}, Own: 2},
	{Rows: []int{7, 2, 9}, Own: 2},
	{Rows: []int{7, 2, 1, 4, 8}, Own: 2},
	{Rows: []int{3, 6}},
}

// unpackedAttention is the reference: every sequence gathered into its own
// [H, n, d] tensors, ScaledDotProductAttention(causal) on each, and the
// owned rows put back in place, all with autograd ops, so its gradients
// sum the contributions of every sequence.
func unpackedAttention(q, k, v *Var, seqs []PackedSeq) *Var {
	var outs []*Var
	var owned []int
	for _, sq := range seqs {
		seq := func(x *Var) *Var { return Permute(IndexSelect(x, 0, sq.Rows), 1, 0, 2) } // [n, H, d] -> [H, n, d]
		o := ScaledDotProductAttention(seq(q), seq(k), seq(v), true, nil)                // [H, n, d]
		o = Permute(o, 1, 0, 2)                                                          // [n, H, d]
		outs = append(outs, Slice(o, 0, sq.Own, len(sq.Rows)))
		owned = append(owned, sq.Rows[sq.Own:]...)
	}
	inv := make([]int, len(owned)) // row r of the result is row inv[r] of the concatenation
	for i, r := range owned {
		inv[r] = i
	}
	return IndexSelect(Concat(outs, 0), 0, inv)
}

// randomPacked builds seqs over R rows: groups sharing a prefix of p rows,
// each with several sequences of random extra lengths, rows shuffled.
func randomPacked(rng *tensor.RNG, groups, perGroup, p, maxExtra int) (seqs []PackedSeq, R int) {
	type pending struct{ pre, own int }
	var shape []pending
	for range groups {
		shape = append(shape, pending{0, p})
		for range perGroup {
			shape = append(shape, pending{p, 1 + rng.Intn(maxExtra)})
		}
	}
	for _, s := range shape {
		R += s.own
	}
	perm := rng.Perm(R)
	next := 0
	var prefix []int
	for _, s := range shape {
		var rows []int
		if s.pre == 0 {
			prefix = perm[next : next+s.own]
		} else {
			rows = append(rows, prefix...)
		}
		rows = append(rows, perm[next:next+s.own]...)
		next += s.own
		seqs = append(seqs, PackedSeq{Rows: rows, Own: s.pre})
	}
	return seqs, R
}

// TestPackedAttentionMatchesUnpacked: values and all three gradients equal
// those of causal ScaledDotProductAttention on the gathered sequences, and
// so do the padded route's (packedAttentionPadded, which devices take),
// with the same probabilities.
func TestPackedAttentionMatchesUnpacked(t *testing.T) {
	rng := tensor.NewRNG(7)
	big, bigR := randomPacked(rng, 3, 4, 5, 9)
	coco, cocoR := cocoopPacking(2)
	// long: a sequence of 100 rows (cut into blocks of blockQueries
	// queries, the last with more than blockKeys keys), one sharing its first
	// 70 rows (a block of 73 keys), one that owns no row, and in another
	// group rows listed out of order.
	perm := tensor.NewRNG(3).Perm(100)
	long := []PackedSeq{
		{Rows: perm},
		{Rows: append(append([]int(nil), perm[:70]...), 100, 101, 102), Own: 70},
		{Rows: perm[:10], Own: 10},
		{Rows: []int{106, 103, 105, 104}},
	}
	for _, c := range []struct {
		name    string
		seqs    []PackedSeq
		R, H, d int
	}{
		{"fixture", packedFixture, 10, 2, 3},
		{"groups", big, bigR, 4, 16},
		{"cocoop", coco, cocoR, 2, 64},
		{"long", long, 107, 2, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk := func() []*Var {
				r := tensor.NewRNG(11)
				return []*Var{Param(r.Normal(0, 1, c.R, c.H, c.d)), Param(r.Normal(0, 1, c.R, c.H, c.d)), Param(r.Normal(0, 1, c.R, c.H, c.d))}
			}
			w := tensor.NewRNG(13).Normal(0, 1, c.R, c.H, c.d)
			a, b, e := mk(), mk(), mk()
			var probs, padProbs []*tensor.Tensor
			got := PackedAttention(a[0], a[1], a[2], c.seqs, &probs)
			want := unpackedAttention(b[0], b[1], b[2], c.seqs)
			pad := packedAttentionPadded(e[0], e[1], e[2], c.seqs, &padProbs) // the device route, on the CPU
			got.BackwardWith(w)
			want.BackwardWith(w)
			pad.BackwardWith(w)
			check := func(what string, g, w *tensor.Tensor) {
				if d := tensor.MaxAbsDiff(g, w); d > 1e-5 {
					t.Errorf("%s differs by %.3g", what, d)
				}
			}
			check("output", got.Value, want.Value)
			check("padded route's output", pad.Value, want.Value)
			for i, n := range []string{"dq", "dk", "dv"} {
				check(n, a[i].Grad, b[i].Grad)
				check("padded route's "+n, e[i].Grad, b[i].Grad)
			}
			for s := range c.seqs {
				check(fmt.Sprintf("padded route's probs[%d]", s), padProbs[s], probs[s])
			}
			if len(probs) != len(c.seqs) {
				t.Fatalf("%d probability tensors for %d sequences", len(probs), len(c.seqs))
			}
			for s, sq := range c.seqs {
				n := len(sq.Rows)
				if sh := probs[s].Shape(); !tensor.SameShape(sh, []int{c.H, n - sq.Own, n}) {
					t.Fatalf("probs[%d] %v, want [%d %d %d]", s, sh, c.H, n-sq.Own, n)
				}
				rowSums := tensor.Sum(probs[s], []int{2}, false)
				if d := tensor.MaxAbsDiff(rowSums, tensor.Ones(rowSums.Shape()...)); d > 1e-5 {
					t.Errorf("probs[%d] rows sum to 1 ± %.3g", s, d)
				}
			}
		})
	}
}

func TestPackedAttentionErrors(t *testing.T) {
	x := func() *Var { return Constant(tensor.Zeros(3, 1, 2)) }
	for _, c := range []struct {
		name string
		seqs []PackedSeq
		want string
	}{
		{"twice", []PackedSeq{{Rows: []int{0, 1}}, {Rows: []int{1, 2}}}, "row 1 owned by sequences 0 and 1"},
		{"unowned", []PackedSeq{{Rows: []int{0, 1}}, {Rows: []int{0, 1}, Own: 2}}, "row 2 is owned by no sequence"},
		{"range", []PackedSeq{{Rows: []int{0, 1, 2, 3}}}, "row 3 outside [0, 3)"},
		{"own", []PackedSeq{{Rows: []int{0, 1, 2}, Own: 4}}, "Own 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg := r.(error).Error(); !strings.Contains(msg, c.want) {
					t.Errorf("panic %q, want it to mention %q", msg, c.want)
				}
			}()
			PackedAttention(x(), x(), x(), c.seqs, nil)
		})
	}
}
