//go:build purego || !amd64

package asm

func gemmVariants(base gemmConfig) []gemmVariant { return []gemmVariant{{"base", base}} }
