//go:build purego || !(amd64 || arm64)

package asm

// registerArchTiers registers no SIMD tier: this build uses pure Go only.
func registerArchTiers() {}
