//go:build !cuda

package cuda

import (
	"errors"

	"github.com/gocoop/gocoop/tensor"
)

// ErrNotBuilt is Open's error in a binary built without the cuda tag.
var ErrNotBuilt = errors.New("cuda: this binary was built without CUDA support (the default, pure-Go build); rebuild it with go build -tags cuda ./cmd/cocoop (needs gcc, not the CUDA toolkit) and run it where the NVIDIA driver, cuBLAS and NVRTC are installed (docs/cuda.md)")

// Options configure Open (see the cuda build).
type Options struct {
	Ordinal int
	TF32    bool
}

// Open reports ErrNotBuilt: the default build is pure Go.
func Open() (tensor.Device, error) { return nil, ErrNotBuilt }

// OpenWith reports ErrNotBuilt.
func OpenWith(Options) (tensor.Device, error) { return nil, ErrNotBuilt }

// Available reports ErrNotBuilt.
func Available() error { return ErrNotBuilt }
