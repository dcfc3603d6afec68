package autograd

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// Devices (docs/cuda.md). A graph runs where its values live: every op
// computes with tensor ops, which dispatch device tensors to the backend's
// kernels (tensor.Kernels), or, for the fused ones (layer norm's backward,
// attention's masked softmax, cross-entropy), with tensor functions that
// do. Gradients, seeds and accumulation stay on the values' device; nothing
// is moved implicitly, and operands on two devices are a *tensor.DeviceError.
//
// Ops with host kernels of their own take another route on a device: the
// activations' gradients are tensor ops there (activation.go), and
// PackedAttention is composed of graph ops (packedAttentionPadded). An op
// that has no device route panics with a *tensor.DeviceError naming it;
// Function, a custom op of tensor ops, is the way around such an op.

// onDevice reports whether t lives off the CPU.
func onDevice(t *tensor.Tensor) bool { return t.Device() != tensor.CPU }

// Function records a custom op of one input, as torch.autograd.Function:
// the value is forward(x.Value), and backward maps the upstream gradient g
// (of the value's shape) and the input's value to the input's gradient.
// Built from tensor ops, such an op runs wherever its input lives, on a
// device through the backend's kernels. The graph keeps x's value for the
// backward. backward should return a tensor it computed, or a view of g:
// the walk recycles a gradient's storage once it has passed it on
// (docs/autograd.md §3), so a result sharing x's storage is copied first,
// and one sharing any other tensor the caller still uses must not be
// returned.
func Function(name string, x *Var, forward func(x *tensor.Tensor) *tensor.Tensor, backward func(x, g *tensor.Tensor) *tensor.Tensor) *Var {
	xv, nx := x.Value, x.node
	return newOp(name, forward(xv), func(g *tensor.Tensor) {
		gx := backward(xv, g)
		if tensor.SharesStorage(gx, xv) {
			gx = gx.Clone()
		}
		nx.accumulate(gx)
	}, x)
}

// hostOnly panics with a *tensor.DeviceError when t lives on a device: the
// op runs host kernels of its own (see Devices above).
func hostOnly(op string, t *tensor.Tensor) {
	if onDevice(t) {
		panic(&tensor.DeviceError{Op: "autograd." + op, Device: t.Device(),
			Msg: "this op runs host kernels; on a device use autograd.Function with tensor ops, or move the values with To(tensor.CPU)"})
	}
}

// checkDevice panics unless the seed of a backward lives where out does.
func checkDevice(op string, out *Var, seed *tensor.Tensor) {
	if seed.Device() != out.Value.Device() {
		panic(&tensor.DeviceError{Op: "autograd." + op, Device: out.Value.Device(),
			Msg: fmt.Sprintf("gradient seed on %v for %s on %v; move it with To (no implicit transfers)", seed.Device(), out.label(), out.Value.Device())})
	}
}
