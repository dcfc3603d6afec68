//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/gocoop/gocoop/tensor"
)

// The model ops beyond tensor.Kernels, on contiguous device tensors: each
// launches one kernel of kernels.go (forward and backward side by side).
// autograd, nn and nn/optim do not call them yet (docs/cuda.md §5); the
// GPU tests check each against its CPU reference.

// dev returns t's address, requiring a contiguous tensor on this backend.
func (b *Backend) addr(name string, t *tensor.Tensor) (uint64, error) {
	if t.Device() != tensor.Device(b.dev) {
		return 0, fmt.Errorf("cuda.%s: tensor on %v, want %v (no implicit transfers)", name, t.Device(), b.dev)
	}
	if !t.IsContiguous() {
		return 0, fmt.Errorf("cuda.%s: tensor must be contiguous", name)
	}
	buf, off := t.DeviceBuffer()
	return b.at(buf, off)
}

func (b *Backend) devs(name string, ts ...*tensor.Tensor) ([]uint64, error) {
	out := make([]uint64, len(ts))
	for i, t := range ts {
		var err error
		if out[i], err = b.addr(name, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *Backend) zeros(shape ...int) (*tensor.Tensor, error) {
	buf, err := b.Alloc(max(numel(shape), 1))
	if err != nil {
		return nil, err
	}
	return tensor.OnDevice(b.dev, buf, shape...), nil
}

// uploadInts puts ids on the device as int32.
func (b *Backend) uploadInts(ids []int) (*buffer, error) {
	v := make([]int32, max(len(ids), 1))
	for i, id := range ids {
		if id < 0 || id >= 1<<31 {
			return nil, fmt.Errorf("cuda: index %d out of range", id)
		}
		v[i] = int32(id)
	}
	buf, err := b.alloc(len(v))
	if err != nil {
		return nil, err
	}
	// int32 and float32 are both 4 bytes: copy the bits.
	return buf, memcpyHtoD(buf.ptr, unsafe.Slice((*float32)(unsafe.Pointer(&v[0])), len(v)))
}

func rowsOf(t *tensor.Tensor) (rows, n int) {
	n = t.Dim(-1)
	return t.Numel() / max(n, 1), n
}

// QuickGELU returns x·σ(1.702x).
func (b *Backend) QuickGELU(x *tensor.Tensor) (*tensor.Tensor, error) {
	if _, err := b.addr("QuickGELU", x); err != nil {
		return nil, err
	}
	out, err := b.zeros(x.Shape()...)
	if err != nil {
		return nil, err
	}
	buf, off := x.DeviceBuffer()
	ob, _ := out.DeviceBuffer()
	return out, b.Elementwise("quickgelu", x.Shape(), ob, tensor.Operand{Buf: buf, Off: off, Strides: x.Strides()}, tensor.Operand{}, 0)
}

// QuickGELUBackward returns dy·QuickGELU'(x).
func (b *Backend) QuickGELUBackward(x, dy *tensor.Tensor) (*tensor.Tensor, error) {
	dx, err := b.zeros(x.Shape()...)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("QuickGELUBackward", dx, x, dy)
	if err != nil {
		return nil, err
	}
	n := x.Numel()
	return dx, b.launch("quickgelu_backward", gridFor(n), 1, threads, 0, new(argPack).i32(n).ptr(p[0]).ptr(p[1]).ptr(p[2]), dx, x, dy)
}

// SoftmaxBackward returns the gradient through softmax (or log-softmax)
// along the last axis from its output y.
func (b *Backend) SoftmaxBackward(y, dy *tensor.Tensor, log bool) (*tensor.Tensor, error) {
	dx, err := b.zeros(y.Shape()...)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("SoftmaxBackward", dx, y, dy)
	if err != nil {
		return nil, err
	}
	rows, n := rowsOf(y)
	l := 0
	if log {
		l = 1
	}
	return dx, b.launch("softmax_backward_rows", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).i32(l).ptr(p[0]).ptr(p[1]).ptr(p[2]), dx, y, dy)
}

// LayerNormBackward returns dx, dw and db from tensor.LayerNorm's saved
// mean and rstd (w may be nil).
func (b *Backend) LayerNormBackward(dy, x, mean, rstd, w *tensor.Tensor) (dx, dw, db *tensor.Tensor, err error) {
	rows, d := rowsOf(x)
	if dx, err = b.zeros(x.Shape()...); err != nil {
		return
	}
	if dw, err = b.zeros(d); err != nil {
		return
	}
	if db, err = b.zeros(d); err != nil {
		return
	}
	p, err := b.devs("LayerNormBackward", dx, dw, db, dy, x, mean, rstd)
	if err != nil {
		return
	}
	var wp uint64
	if w != nil {
		if wp, err = b.addr("LayerNormBackward", w); err != nil {
			return
		}
	}
	if err = b.launch("layernorm_backward_rows", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(d).ptr(p[0]).ptr(p[3]).ptr(p[4]).ptr(p[5]).ptr(p[6]).ptr(wp), dx, dy, x, mean, rstd, w); err != nil {
		return
	}
	err = b.launch("layernorm_backward_params", gridFor(d), 1, threads, 0,
		new(argPack).i32(rows).i32(d).ptr(p[1]).ptr(p[2]).ptr(p[3]).ptr(p[4]).ptr(p[5]).ptr(p[6]), dw, db, dy, x, mean, rstd)
	return
}

// Attention returns softmax(q·kᵀ/√hd + causal mask)·v and the
// probabilities, for q [BH, T, hd] and k, v [BH, S, hd].
func (b *Backend) Attention(q, k, v *tensor.Tensor, causal bool) (out, probs *tensor.Tensor, err error) {
	qs, ks := q.Shape(), k.Shape()
	if len(qs) != 3 || len(ks) != 3 || qs[0] != ks[0] || qs[2] != ks[2] || !tensor.SameShape(ks, v.Shape()) {
		return nil, nil, fmt.Errorf("cuda.Attention: shapes %v, %v, %v: want [BH, T, hd], [BH, S, hd] twice", qs, ks, v.Shape())
	}
	bh, t, hd, s := qs[0], qs[1], qs[2], ks[1]
	if out, err = b.zeros(bh, t, hd); err != nil {
		return
	}
	if probs, err = b.zeros(bh, t, s); err != nil {
		return
	}
	p, err := b.devs("Attention", out, probs, q, k, v)
	if err != nil {
		return
	}
	c := 0
	if causal {
		c = 1
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	err = b.launch("attention_forward", t, bh, 128, 4*s,
		new(argPack).i32(t).i32(s).i32(hd).f32(scale).i32(c).ptr(p[0]).ptr(p[1]).ptr(p[2]).ptr(p[3]).ptr(p[4]), out, probs, q, k, v)
	return
}

// AttentionBackward returns dq, dk, dv from dout and Attention's probs.
func (b *Backend) AttentionBackward(dout, probs, q, k, v *tensor.Tensor) (dq, dk, dv *tensor.Tensor, err error) {
	qs, ks := q.Shape(), k.Shape()
	bh, t, hd, s := qs[0], qs[1], qs[2], ks[1]
	if dq, err = b.zeros(qs...); err != nil {
		return
	}
	if dk, err = b.zeros(ks...); err != nil {
		return
	}
	if dv, err = b.zeros(ks...); err != nil {
		return
	}
	p, err := b.devs("AttentionBackward", dq, dk, dv, dout, probs, q, k, v)
	if err != nil {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	a := new(argPack).i32(t).i32(s).i32(hd).f32(scale)
	for _, x := range p {
		a.ptr(x)
	}
	err = b.launch("attention_backward", t, bh, 128, 4*s, a, dq, dk, dv, dout, probs, q, k, v)
	return
}

// Embedding returns table's rows ids ([len(ids), d]).
func (b *Backend) Embedding(table *tensor.Tensor, ids []int) (*tensor.Tensor, error) {
	vocab, d := table.Dim(0), table.Dim(1)
	for _, id := range ids {
		if id >= vocab {
			return nil, fmt.Errorf("cuda.Embedding: id %d of a %d-row table", id, vocab)
		}
	}
	out, err := b.zeros(len(ids), d)
	if err != nil {
		return nil, err
	}
	idb, err := b.uploadInts(ids)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("Embedding", out, table)
	if err != nil {
		return nil, err
	}
	n := len(ids) * d
	return out, b.launch("embedding_forward", gridFor(n), 1, threads, 0, new(argPack).i32(len(ids)).i32(d).ptr(p[0]).ptr(p[1]).ptr(idb.ptr), out, table, idb)
}

// EmbeddingBackward returns the table gradient [vocab, d] of Embedding.
func (b *Backend) EmbeddingBackward(dout *tensor.Tensor, ids []int, vocab int) (*tensor.Tensor, error) {
	d := dout.Dim(1)
	dt, err := b.zeros(vocab, d)
	if err != nil {
		return nil, err
	}
	idb, err := b.uploadInts(ids)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("EmbeddingBackward", dt, dout)
	if err != nil {
		return nil, err
	}
	n := len(ids) * d
	return dt, b.launch("embedding_backward", gridFor(n), 1, threads, 0, new(argPack).i32(len(ids)).i32(d).ptr(p[0]).ptr(p[1]).ptr(idb.ptr), dt, dout, idb)
}

// CrossEntropy returns the per-row losses logsumexp(x) − x[label].
func (b *Backend) CrossEntropy(logits *tensor.Tensor, labels []int) (*tensor.Tensor, error) {
	rows, n := rowsOf(logits)
	if len(labels) != rows {
		return nil, fmt.Errorf("cuda.CrossEntropy: %d labels for %d rows", len(labels), rows)
	}
	loss, err := b.zeros(rows)
	if err != nil {
		return nil, err
	}
	lb, err := b.uploadInts(labels)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("CrossEntropy", loss, logits)
	if err != nil {
		return nil, err
	}
	return loss, b.launch("cross_entropy_forward", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).ptr(p[0]).ptr(p[1]).ptr(lb.ptr), loss, logits, lb)
}

// CrossEntropyBackward returns (softmax(x) − onehot)·scale.
func (b *Backend) CrossEntropyBackward(logits *tensor.Tensor, labels []int, scale float32) (*tensor.Tensor, error) {
	rows, n := rowsOf(logits)
	dx, err := b.zeros(logits.Shape()...)
	if err != nil {
		return nil, err
	}
	lb, err := b.uploadInts(labels)
	if err != nil {
		return nil, err
	}
	p, err := b.devs("CrossEntropyBackward", dx, logits)
	if err != nil {
		return nil, err
	}
	return dx, b.launch("cross_entropy_backward", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).f32(scale).ptr(p[0]).ptr(p[1]).ptr(lb.ptr), dx, logits, lb)
}

// SGDStep updates p in place as optim.SGD (no Nesterov, no dampening);
// buf is the momentum buffer (ignored without momentum), first marks the
// first step.
func (b *Backend) SGDStep(p, g, buf *tensor.Tensor, lr, momentum, wd float32, first bool) error {
	if buf == nil {
		buf = p // unused by the kernel when momentum is 0
	}
	q, err := b.devs("SGDStep", p, g, buf)
	if err != nil {
		return err
	}
	f := 0
	if first {
		f = 1
	}
	n := p.Numel()
	return b.launch("sgd_update", gridFor(n), 1, threads, 0,
		new(argPack).i32(n).f32(lr).f32(momentum).f32(wd).i32(f).ptr(q[0]).ptr(q[1]).ptr(q[2]), p, g, buf)
}

// AdamWStep is step t (from 1) of optim.AdamW on p, with moments m and v.
func (b *Backend) AdamWStep(p, g, m, v *tensor.Tensor, lr, b1, b2, eps, wd float32, t int) error {
	q, err := b.devs("AdamWStep", p, g, m, v)
	if err != nil {
		return err
	}
	bc1 := 1 - math.Pow(float64(b1), float64(t))
	bc2 := 1 - math.Pow(float64(b2), float64(t))
	n := p.Numel()
	return b.launch("adamw_update", gridFor(n), 1, threads, 0,
		new(argPack).i32(n).f32(lr).f32(b1).f32(b2).f32(eps).f32(wd).f32(float32(float64(lr)/bc1)).f32(float32(math.Sqrt(bc2))).
			ptr(q[0]).ptr(q[1]).ptr(q[2]).ptr(q[3]), p, g, m, v)
}
