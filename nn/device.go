package nn

import (
	"fmt"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// To moves every parameter of m to dev, in place (the Vars stay, their
// values and any gradients are replaced by copies on dev), as PyTorch's
// module.to(device): optimizers and hooks holding the Vars keep working.
// Moving to the device a parameter is already on costs nothing.
func To(m Module, dev tensor.Device) error {
	for _, p := range m.NamedParameters("") {
		v := p.Var
		x, err := v.Value.To(dev)
		if err != nil {
			return fmt.Errorf("nn: move %s to %v: %w", p.Name, dev, err)
		}
		if v.Grad != nil {
			g, err := v.Grad.To(dev)
			if err != nil {
				return fmt.Errorf("nn: move the gradient of %s to %v: %w", p.Name, dev, err)
			}
			v.Grad = g
		}
		v.Value = x
	}
	return nil
}

// onDevice reports whether x's value lives off the CPU.
func onDevice(x *autograd.Var) bool { return x.Value.Device() != tensor.CPU }

// The device route of autograd.Relu, whose backward runs a host kernel of
// its own: on a device it is autograd.Function over the tensor ops, which
// dispatch to the backend's kernels. On the CPU autograd.Relu runs as before.

func reluDevice(x *autograd.Var) *autograd.Var {
	return autograd.Function("relu", x, tensor.Relu, func(x, g *tensor.Tensor) *tensor.Tensor {
		return tensor.Mul(g, tensor.GreaterThan(x, 0))
	})
}
