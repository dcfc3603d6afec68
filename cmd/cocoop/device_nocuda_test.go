//go:build !cuda

package main

import "testing"

// TestDeviceCUDAWithoutTag: in the default (pure-Go) build, --device cuda
// fails at once on every command that takes it, saying the binary was built
// without -tags cuda and how to rebuild, before any file is read.
func TestDeviceCUDAWithoutTag(t *testing.T) {
	checkDeviceFailsFirst(t, "built without CUDA support", "go build -tags cuda")
}
