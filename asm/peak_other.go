//go:build purego || !amd64

package asm

// No assembly FMA loop on this build: only the Generic tier's Go loop.

func hasPeakLoop(Tier) bool { return false }

func peakArch(Tier, int) {}
