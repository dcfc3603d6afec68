//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/gocoop/gocoop/tensor"
)

// The backend's own ops on contiguous device tensors, beyond tensor.Kernels:
// the softmax backward and the fused attention (forward and backward), each
// one kernel of kernels.go. The models do not call them (autograd builds
// attention from MatMul and tensor.MaskedSoftmax, whose kernels are in
// tensor.Kernels); the GPU tests check them against autograd, and
// BenchmarkAttention times them.

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

// ---- the fused model kernels of tensor.Kernels -------------------------------

// span resolves a contiguous operand (its Off; Strides ignored).
func (b *Backend) span(o tensor.Operand) (uint64, error) { return b.at(o.Buf, o.Off) }

func (b *Backend) spans(os ...tensor.Operand) ([]uint64, error) {
	out := make([]uint64, len(os))
	for i, o := range os {
		var err error
		if out[i], err = b.span(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LayerNormBackward implements tensor.Kernels: dx by rows, then dw and db
// by columns.
func (b *Backend) LayerNormBackward(rows, d int, dx, dw, db tensor.Buffer, dy, x, mean, rstd, w tensor.Operand) error {
	p, err := b.spans(tensor.Operand{Buf: dx}, tensor.Operand{Buf: dw}, tensor.Operand{Buf: db}, dy, x, mean, rstd, w)
	if err != nil {
		return err
	}
	if err := b.launch("layernorm_backward_rows", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(d).ptr(p[0]).ptr(p[3]).ptr(p[4]).ptr(p[5]).ptr(p[6]).ptr(p[7]), dx, dy.Buf, x.Buf, mean.Buf, rstd.Buf, w.Buf); err != nil {
		return err
	}
	return b.launch("layernorm_backward_params", gridFor(d), 1, threads, 0,
		new(argPack).i32(rows).i32(d).ptr(p[1]).ptr(p[2]).ptr(p[3]).ptr(p[4]).ptr(p[5]).ptr(p[6]), dw, db, dy.Buf, x.Buf, mean.Buf, rstd.Buf)
}

// Gather implements tensor.Kernels (embedding_forward).
func (b *Backend) Gather(d int, out, src tensor.Operand, idx []int) error {
	if len(idx) == 0 || d == 0 {
		return nil
	}
	ids, err := b.uploadInts(idx)
	if err != nil {
		return err
	}
	p, err := b.spans(out, src)
	if err != nil {
		return err
	}
	return b.launch("embedding_forward", gridFor(len(idx)*d), 1, threads, 0,
		new(argPack).i32(len(idx)).i32(d).ptr(p[0]).ptr(p[1]).ptr(ids.ptr), out.Buf, src.Buf, ids)
}

// ScatterAdd implements tensor.Kernels (embedding_backward: atomics).
func (b *Backend) ScatterAdd(d int, dst, src tensor.Operand, idx []int) error {
	if len(idx) == 0 || d == 0 {
		return nil
	}
	ids, err := b.uploadInts(idx)
	if err != nil {
		return err
	}
	p, err := b.spans(dst, src)
	if err != nil {
		return err
	}
	return b.launch("embedding_backward", gridFor(len(idx)*d), 1, threads, 0,
		new(argPack).i32(len(idx)).i32(d).ptr(p[0]).ptr(p[1]).ptr(ids.ptr), dst.Buf, src.Buf, ids)
}

// CrossEntropy implements tensor.Kernels.
func (b *Backend) CrossEntropy(rows, n int, loss tensor.Buffer, logits tensor.Operand, labels []int) error {
	lb, err := b.uploadInts(labels)
	if err != nil {
		return err
	}
	p, err := b.spans(tensor.Operand{Buf: loss}, logits)
	if err != nil {
		return err
	}
	return b.launch("cross_entropy_forward", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).ptr(p[0]).ptr(p[1]).ptr(lb.ptr), loss, logits.Buf, lb)
}

// CrossEntropyBackward implements tensor.Kernels.
func (b *Backend) CrossEntropyBackward(rows, n int, scale float32, dx tensor.Buffer, logits tensor.Operand, labels []int) error {
	lb, err := b.uploadInts(labels)
	if err != nil {
		return err
	}
	p, err := b.spans(tensor.Operand{Buf: dx}, logits)
	if err != nil {
		return err
	}
	return b.launch("cross_entropy_backward", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).f32(scale).ptr(p[0]).ptr(p[1]).ptr(lb.ptr), dx, logits.Buf, lb)
}

func flag(v bool) int {
	if v {
		return 1
	}
	return 0
}

// SGDStep implements tensor.Kernels (buf may have a nil Buf without
// momentum: the kernel then never touches it).
func (b *Backend) SGDStep(n int, lr, momentum, dampening, wd float32, nesterov, first bool, p, g, buf tensor.Operand) error {
	if buf.Buf == nil {
		buf = p
	}
	q, err := b.spans(p, g, buf)
	if err != nil {
		return err
	}
	return b.launch("sgd_update", gridFor(n), 1, threads, 0,
		new(argPack).i32(n).f32(lr).f32(momentum).f32(dampening).f32(wd).i32(flag(nesterov)).i32(flag(first)).
			ptr(q[0]).ptr(q[1]).ptr(q[2]), p.Buf, g.Buf, buf.Buf)
}

// AdamWStep implements tensor.Kernels: the bias corrections are computed
// here in float64, as optim.AdamW does.
func (b *Backend) AdamWStep(n int, lr, b1, b2, eps, wd float32, t int, p, g, m, v tensor.Operand) error {
	q, err := b.spans(p, g, m, v)
	if err != nil {
		return err
	}
	bc1 := 1 - math.Pow(float64(b1), float64(t))
	bc2 := 1 - math.Pow(float64(b2), float64(t))
	return b.launch("adamw_update", gridFor(n), 1, threads, 0,
		new(argPack).i32(n).f32(lr).f32(b1).f32(b2).f32(eps).f32(wd).f32(float32(float64(lr)/bc1)).f32(float32(math.Sqrt(bc2))).
			ptr(q[0]).ptr(q[1]).ptr(q[2]).ptr(q[3]), p.Buf, g.Buf, m.Buf, v.Buf)
}
