package tensor

import (
	"fmt"
	"math"
	"strings"
)

// Printing, in PyTorch's style: nested brackets, one common number format,
// and tensors of more than printThreshold elements summarized with the first
// and last printEdge entries of every dim around "...".

const (
	printThreshold = 1000
	printEdge      = 3
)

// String formats t like PyTorch:
//
//	tensor([[1.0000, 2.0000],
//	        [3.0000, 4.0000]])
//
// Tensors on a device print their shape and device only.
func (t *Tensor) String() string {
	if t == nil {
		return "tensor(nil)"
	}
	if !t.onHost() {
		return fmt.Sprintf("tensor(shape=%v, device=%v)", t.shape, t.dev)
	}
	if t.DType() == Float16 { // printed widened, with the dtype as PyTorch shows it
		s := t.Float().String()
		return s[:len(s)-1] + ", dtype=float16)"
	}
	summarize := t.Numel() > printThreshold
	f := newNumFormat(t, summarize)
	var b strings.Builder
	b.WriteString("tensor(")
	if len(t.shape) == 0 {
		b.WriteString(f.format(t.data[t.offset]))
	} else {
		formatRec(&b, t, t.offset, 0, len("tensor("), summarize, f)
	}
	if len(t.shape) > 0 && t.Numel() == 0 {
		fmt.Fprintf(&b, ", size=%v", t.shape)
	}
	b.WriteString(")")
	return b.String()
}

// shownIndices lists the indices of a dim of size n that get printed; -1
// marks the "..." gap.
func shownIndices(n int, summarize bool) []int {
	if !summarize || n <= 2*printEdge {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := []int{0, 1, 2, -1}
	for i := n - printEdge; i < n; i++ {
		idx = append(idx, i)
	}
	return idx
}

func formatRec(b *strings.Builder, t *Tensor, off, dim, indent int, summarize bool, f numFormat) {
	b.WriteByte('[')
	n, st := t.shape[dim], t.strides[dim]
	last := dim == len(t.shape)-1
	for k, i := range shownIndices(n, summarize) {
		if k > 0 {
			if last {
				b.WriteString(", ")
			} else {
				b.WriteString(",")
				b.WriteString(strings.Repeat("\n", len(t.shape)-dim-1))
				b.WriteString(strings.Repeat(" ", indent+1))
			}
		}
		switch {
		case i < 0:
			b.WriteString("...")
		case last:
			b.WriteString(f.format(t.data[off+i*st]))
		default:
			formatRec(b, t, off+i*st, dim+1, indent+1, summarize, f)
		}
	}
	b.WriteByte(']')
}

// numFormat is the one number format used for a whole tensor.
type numFormat struct {
	integral bool // every value is a whole number: print "3."
	sci      bool // range too wide for fixed point: print "1.0000e+08"
	width    int
}

func newNumFormat(t *Tensor, summarize bool) numFormat {
	f := numFormat{integral: true}
	var maxAbs, minAbs float64 = 0, math.Inf(1)
	visit := func(v float32) {
		x := math.Abs(float64(v))
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		if x != math.Trunc(x) {
			f.integral = false
		}
		maxAbs = max(maxAbs, x)
		if x != 0 {
			minAbs = min(minAbs, x)
		}
	}
	var each func(off, dim int)
	each = func(off, dim int) {
		if dim == len(t.shape) {
			visit(t.data[off])
			return
		}
		for _, i := range shownIndices(t.shape[dim], summarize) {
			if i >= 0 {
				each(off+i*t.strides[dim], dim+1)
			}
		}
	}
	if t.Numel() > 0 {
		each(t.offset, 0)
	}
	if f.integral {
		f.sci = maxAbs >= 1e8
	} else {
		f.sci = maxAbs >= 1e8 || (minAbs < 1e-4) || maxAbs/minAbs > 1e5
	}
	// Width: the widest shown value.
	var w func(off, dim int)
	w = func(off, dim int) {
		if dim == len(t.shape) {
			f.width = max(f.width, len(f.raw(t.data[off])))
			return
		}
		for _, i := range shownIndices(t.shape[dim], summarize) {
			if i >= 0 {
				w(off+i*t.strides[dim], dim+1)
			}
		}
	}
	if t.Numel() > 0 {
		w(t.offset, 0)
	}
	return f
}

func (f numFormat) raw(v float32) string {
	x := float64(v)
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case f.sci:
		return fmt.Sprintf("%.4e", x)
	case f.integral:
		return fmt.Sprintf("%.0f.", x)
	default:
		return fmt.Sprintf("%.4f", x)
	}
}

func (f numFormat) format(v float32) string {
	s := f.raw(v)
	if len(s) < f.width {
		s = strings.Repeat(" ", f.width-len(s)) + s
	}
	return s
}
