package nn

import (
	"fmt"

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
