package clip

import (
	"fmt"

	"github.com/gocoop/gocoop/tensor"
)

// toDevice returns t on dev, t itself when it is there: the explicit move
// of an input batch to the model's device. A failed transfer panics.
func toDevice(t *tensor.Tensor, dev tensor.Device) *tensor.Tensor {
	out, err := t.To(dev) // t itself when it is there
	if err != nil {
		panic(fmt.Errorf("clip: %w", err))
	}
	return out
}

// onHost returns t on the CPU (a download for a device tensor).
func onHost(t *tensor.Tensor) *tensor.Tensor { return toDevice(t, tensor.CPU) }

// clampDevice sets the scalar x, on a device, to min(max(x, lo), hi) there
// and returns the clamped value (one scalar downloaded).
func clampDevice(x *tensor.Tensor, lo, hi float32) float32 {
	c := tensor.Neg(tensor.MaximumScalar(tensor.Neg(tensor.MaximumScalar(x, lo)), -hi)) // −max(−max(x, lo), −hi)
	tensor.Copy(x, c)
	return onHost(c).Item()
}
