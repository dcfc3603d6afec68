package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/cuda"
)

// --device: where the models compute (docs/cuda.md). The device is opened
// right after the flags are parsed, before any file is read, so that a
// binary built without -tags cuda, or a machine without the NVIDIA driver
// or a GPU, fails at once with what is missing. The commands keep their
// inputs and outputs on the host (images are moved to the device, features
// and logits back), and checkpoints and inspection outputs are written from
// host copies: the files are the same from either device.

// deviceUsage is the help text of --device.
const deviceUsage = "where the models compute: cpu, or cuda (an NVIDIA GPU: needs a binary built with -tags cuda, the NVIDIA driver, cuBLAS and NVRTC; docs/cuda.md)"

// openCUDA opens the CUDA device (a variable so that tests can put a fake
// device behind --device cuda).
var openCUDA = cuda.Open

// addDeviceFlag registers --device on fs.
func addDeviceFlag(fs *flag.FlagSet) *string { return fs.String("device", "cpu", deviceUsage) }

// openDevice opens the device named by --device.
func openDevice(name string) (tensor.Device, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "cpu":
		return tensor.CPU, nil
	case "cuda", "gpu":
		dev, err := openCUDA()
		if err != nil {
			return nil, fmt.Errorf("--device %s: %w", name, err)
		}
		return dev, nil
	}
	return nil, usagef("--device %q: want cpu or cuda", name)
}

// toModel moves a host batch to the model's device (t itself on the CPU).
func toModel(m *clip.CLIP, t *tensor.Tensor) (*tensor.Tensor, error) {
	return t.To(m.Device())
}

// hostOf returns t on the CPU (a download for a device tensor).
func hostOf(t *tensor.Tensor) (*tensor.Tensor, error) { return t.To(tensor.CPU) }
