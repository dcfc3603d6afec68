//go:build !purego

package asm

import "fmt"

// gemmVariants lists blocking alternatives for BenchmarkGemmConfig.
func gemmVariants(base gemmConfig) []gemmVariant {
	var out []gemmVariant
	add := func(name string, c gemmConfig) { out = append(out, gemmVariant{name, c}) }
	add("base", base)
	if base.nr == 64 {
		for _, v := range [][3]int{{256, 240, 256}, {384, 240, 256}, {384, 360, 256}, {384, 480, 256}, {512, 240, 256}, {512, 480, 256}, {768, 240, 256}} {
			c := base
			c.kc, c.mc, c.ncInner = v[0], v[1], v[2]
			add(fmt.Sprintf("kc%d_mc%d_nci%d", v[0], v[1], v[2]), c)
		}
		c := base
		c.directMNK = 1 << 62
		add("direct", c)
		c = base
		c.directMNK = -1
		add("packedA", c)
		c = base
		c.parMNK = 1 << 62
		add("serial", c)
		for _, nc := range []int{512, 1024} {
			c = base
			c.nc = nc
			add(fmt.Sprintf("nc%d", nc), c)
		}
		c = base
		c.mr, c.nr, c.kern, c.edge, c.kc, c.mc = 12, 32, sgemmKernAVX512, nil, 384, 240
		add("12x32_kc384", c)
	}
	return out
}
