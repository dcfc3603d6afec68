package tensor

import (
	"fmt"
	"sync"
)

// The backend seam. Storage lives on the host unless a tensor is moved with
// To to a device whose Backend is registered (a CUDA backend behind a build
// tag, say). Only what a Backend provides runs on a device: MatMul via Sgemm
// and To for any backend, and the ops of device_ops.go for one with
// Kernels; every other op (the host-only ones: Data, At, Map, the in-place
// methods) panics with a *DeviceError rather than copying silently.

// Device names where a tensor's storage lives. CPU is the default; a CUDA
// backend (build tag cuda) registers itself with RegisterBackend. Device
// values must be comparable (they key the backend registry).
type Device interface{ String() string }

// Buffer is device memory owned by a Backend; Len is in float32 elements.
type Buffer interface{ Len() int }

// Backend is what a device must provide. Ops on device tensors that the
// backend cannot run panic with a *DeviceError: there are no implicit
// transfers; move data with To.
type Backend interface {
	Device() Device
	Upload(host []float32) (Buffer, error)
	Download(buf Buffer, host []float32) error
	// Sgemm as asm.Sgemm, on device buffers.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a Buffer, aOff, lda int, b Buffer, bOff, ldb int, beta float32, c Buffer, cOff, ldc int) error
}

type cpuDevice struct{}

// String returns "cpu".
func (cpuDevice) String() string { return "cpu" }

// CPU is the host device, where every tensor lives by default.
var CPU Device = cpuDevice{}

var (
	backendsMu sync.RWMutex
	backends   = map[Device]Backend{}
)

// RegisterBackend makes b's device available to To and device ops. A later
// registration for the same device replaces the earlier one.
func RegisterBackend(b Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[b.Device()] = b
}

func backendFor(d Device) Backend {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	return backends[d]
}

// DeviceError reports an op applied to a tensor on a device that cannot run it.
type DeviceError struct {
	Op     string
	Device Device
	Msg    string
}

// Error formats the op, the device and the message.
func (e *DeviceError) Error() string {
	return fmt.Sprintf("tensor.%s: tensor on device %v: %s", e.Op, e.Device, e.Msg)
}

// Device returns where t's storage lives.
func (t *Tensor) Device() Device {
	if t.dev == nil {
		return CPU
	}
	return t.dev
}

func (t *Tensor) onHost() bool { return t.dev == nil || t.dev == CPU }

// host panics unless t's data is on the CPU.
func (t *Tensor) host(op string) {
	if !t.onHost() {
		panic(&DeviceError{Op: op, Device: t.dev, Msg: "op not supported there; move it with To(tensor.CPU) first (no implicit transfers)"})
	}
	t.float32Only(op)
}

// To returns t on device d: t itself if it is already there, else a
// contiguous copy uploaded to (or downloaded from) the device. Moving between
// two non-CPU devices goes through the host. A float16 tensor (Half) is
// widened to float32 on its way to a device.
func (t *Tensor) To(d Device) (*Tensor, error) {
	if d == nil {
		d = CPU
	}
	if t.Device() == d {
		return t, nil
	}
	src := t
	if t.DType() == Float16 {
		src = t.Float() // float16 storage moves as float32: device ops compute in float32
	}
	if !t.onHost() {
		b := backendFor(t.dev)
		if b == nil {
			return nil, &DeviceError{Op: "To", Device: t.dev, Msg: "no backend registered"}
		}
		host := make([]float32, t.buf.Len())
		if err := b.Download(t.buf, host); err != nil {
			return nil, fmt.Errorf("tensor.To: download from %v: %w", t.dev, err)
		}
		src = (&Tensor{shape: t.shape, strides: t.strides, offset: t.offset, data: host}).Contiguous()
		if d == CPU {
			if src.offset != 0 || len(src.data) != src.Numel() {
				src = src.Clone()
			}
			return src, nil
		}
	}
	b := backendFor(d)
	if b == nil {
		return nil, &DeviceError{Op: "To", Device: d, Msg: "no backend registered"}
	}
	buf, err := b.Upload(src.Contiguous().Data())
	if err != nil {
		return nil, fmt.Errorf("tensor.To: upload to %v: %w", d, err)
	}
	return &Tensor{shape: t.Shape(), strides: contiguousStrides(t.shape), dev: d, buf: buf}, nil
}
