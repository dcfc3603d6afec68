package cocoop

import (
	"fmt"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// Devices (docs/cuda.md). A learner computes where its CLIP lives: built on
// a model moved with clip.CLIP.To, its trainables and class buffers are
// created there; To moves a learner built earlier. The API stays on the
// host: images, features and logits in and out of Classifier and Learner
// are host tensors, moved explicitly at that boundary (images up, features
// and logits down; a loss is one scalar down). Checkpoints and inspections
// are written from host copies, in the same formats.

// onDevice reports whether t lives off the CPU.
func onDevice(t *tensor.Tensor) bool { return t.Device() != tensor.CPU }

// toDev returns t on dev (t itself when already there); a failed transfer
// panics, caught at the API boundary (catch).
func toDev(t *tensor.Tensor, dev tensor.Device) *tensor.Tensor {
	out, err := t.To(dev) // t itself when it is there
	if err != nil {
		panic(fmt.Errorf("cocoop: %w", err))
	}
	return out
}

// host returns t on the CPU (a download for a device tensor; nil stays nil).
func host(t *tensor.Tensor) *tensor.Tensor {
	if t == nil {
		return nil
	}
	return toDev(t, tensor.CPU)
}

// item returns the one element of t, downloaded from its device.
func item(t *tensor.Tensor) float32 { return host(t).Item() }

// to moves the class buffers (token prefix and suffix) to dev.
func (cp *classPrompts) to(dev tensor.Device) error {
	prefix, err := cp.prefix.To(dev)
	if err != nil {
		return err
	}
	suffix, err := cp.suffix.To(dev)
	if err != nil {
		return err
	}
	cp.prefix, cp.suffix = prefix, suffix
	return nil
}

// moveLearner moves m, the trainables of l and the class buffers cp to dev.
func moveLearner(m *clip.CLIP, l nn.Module, cp *classPrompts, dev tensor.Device) error {
	if _, err := m.To(dev); err != nil {
		return err
	}
	if err := nn.To(l, dev); err != nil {
		return fmt.Errorf("cocoop: %w", err)
	}
	if cp != nil {
		if err := cp.to(dev); err != nil {
			return fmt.Errorf("cocoop: class prompts: %w", err)
		}
	}
	return nil
}

// To moves the learner, its CLIP included, to dev (PyTorch's
// model.to(device)) and returns c. The CLIP is shared: every learner and
// classifier built on it computes on dev from then on.
func (c *CoCoOp) To(dev tensor.Device) (*CoCoOp, error) {
	if err := moveLearner(c.Model, c, c.classes, dev); err != nil {
		return nil, err
	}
	return c, nil
}

// To moves the learner, its CLIP included, to dev and returns c (see
// CoCoOp.To).
func (c *CoOp) To(dev tensor.Device) (*CoOp, error) {
	if err := moveLearner(c.Model, c, c.classes, dev); err != nil {
		return nil, err
	}
	return c, nil
}

// To moves the classifier, its CLIP and class features included, to dev
// and returns z (see CoCoOp.To).
func (z *ZeroShot) To(dev tensor.Device) (*ZeroShot, error) {
	if _, err := z.Model.To(dev); err != nil {
		return nil, err
	}
	text, err := z.text.To(dev)
	if err != nil {
		return nil, fmt.Errorf("cocoop: zero-shot class features: %w", err)
	}
	z.text = text
	return z, nil
}
