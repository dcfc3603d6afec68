//go:build cuda

package main

import (
	"testing"

	"github.com/gocoop/gocoop/tensor/cuda"
)

// TestDeviceCUDAWithoutGPU: in a -tags cuda build on a machine without the
// NVIDIA driver or a GPU, --device cuda fails at once on every command
// that takes it with the loader's error naming what is missing
// ("cuda: no libcuda.so.1: ..."), before any file is read.
func TestDeviceCUDAWithoutGPU(t *testing.T) {
	err := cuda.Available()
	if err == nil {
		t.Skip("a GPU is present: --device cuda opens")
	}
	checkDeviceFailsFirst(t, err.Error(), "cuda: no ")
}
