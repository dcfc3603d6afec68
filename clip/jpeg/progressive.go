package jpeg

import "fmt"

// checkProgression validates a progressive scan's spectral selection and
// successive approximation (jdphuff.c start_pass_phuff_decoder) and
// updates the per-coefficient progress kept for block smoothing.
func (d *decoder) checkProgression(sp scanParams) error {
	bad := false
	if sp.ss == 0 {
		bad = sp.se != 0
	} else {
		bad = sp.ss > sp.se || sp.se > 63 || len(sp.comps) != 1
	}
	if sp.ah != 0 && sp.al != sp.ah-1 {
		bad = true
	}
	if sp.al > 13 {
		bad = true
	}
	if bad {
		return FormatError(fmt.Sprintf("invalid progressive scan Ss=%d Se=%d Ah=%d Al=%d", sp.ss, sp.se, sp.ah, sp.al))
	}
	for _, c := range sp.comps {
		for k := min(sp.ss, 1); k <= max(sp.se, 9); k++ {
			if d.scanNumber > 1 {
				c.prevCoefBits[k] = c.coefBits[k]
			} else {
				c.prevCoefBits[k] = 0
			}
		}
		for k := sp.ss; k <= sp.se; k++ {
			c.coefBits[k] = sp.al
		}
		if sp.ss == 0 {
			if sp.ah == 0 {
				if err := d.checkTable(&d.dc[c.dcTbl], true, c.dcTbl); err != nil {
					return err
				}
			}
		} else if err := d.checkTable(&d.ac[c.acTbl], false, c.acTbl); err != nil {
			return err
		}
	}
	return nil
}

// progressiveMCU decodes one MCU of a progressive scan into the
// coefficient arrays (jdphuff.c decode_mcu_DC_first, _DC_refine,
// _AC_first, _AC_refine).
func (d *decoder) progressiveMCU(sp scanParams, mx, my int) error {
	b := &d.br
	if sp.ss == 0 {
		for _, c := range sp.comps {
			hb, vb := c.h, c.v
			if len(sp.comps) == 1 {
				hb, vb = 1, 1
			}
			for by := 0; by < vb; by++ {
				for bx := 0; bx < hb; bx++ {
					blk := c.coefs[((my*vb+by)*c.bw+mx*hb+bx)*64:][:64]
					if sp.ah == 0 {
						s, err := b.decode(&d.dc[c.dcTbl])
						if err != nil {
							return err
						}
						c.dcPred += b.receiveExtend(uint(s))
						blk[0] = int16(c.dcPred << sp.al)
					} else {
						if b.n < 1 {
							b.fill()
						}
						if b.bits(1) != 0 {
							blk[0] |= 1 << sp.al
						}
					}
				}
			}
		}
		return nil
	}
	c := sp.comps[0]
	blk := c.coefs[(my*c.bw+mx)*64:][:64]
	t := &d.ac[c.acTbl]
	if sp.ah == 0 {
		if d.eobrun > 0 {
			d.eobrun--
			return nil
		}
		for k := sp.ss; k <= sp.se; k++ {
			rs, err := b.decode(t)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), uint(rs&15)
			if s != 0 {
				k += r
				blk[naturalOrder[k]] = int16(b.receiveExtend(s) << sp.al)
				continue
			}
			if r == 15 {
				k += 15
				continue
			}
			d.eobrun = 1 << r
			if r != 0 {
				if b.n < uint(r) {
					b.fill()
				}
				d.eobrun += int(b.bits(uint(r)))
			}
			d.eobrun--
			break
		}
		return nil
	}
	return d.refineAC(sp, blk, t)
}

// refineAC is decode_mcu_AC_refine for one block.
func (d *decoder) refineAC(sp scanParams, blk []int16, t *huffTable) error {
	b := &d.br
	p1 := int16(1) << sp.al
	m1 := int16(-1) << sp.al
	k := sp.ss
	// refine corrects a nonzero coefficient's next bit.
	refine := func(pos int) {
		if b.n < 1 {
			b.fill()
		}
		if b.bits(1) != 0 && blk[pos]&p1 == 0 {
			if blk[pos] >= 0 {
				blk[pos] += p1
			} else {
				blk[pos] += m1
			}
		}
	}
	if d.eobrun == 0 {
		for ; k <= sp.se; k++ {
			rs, err := b.decode(t)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int(rs&15)
			var v int16
			if s != 0 {
				// s must be 1; libjpeg only warns otherwise.
				if b.n < 1 {
					b.fill()
				}
				if b.bits(1) != 0 {
					v = p1
				} else {
					v = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r != 0 {
					if b.n < uint(r) {
						b.fill()
					}
					d.eobrun += int(b.bits(uint(r)))
				}
				break
			}
			for k <= sp.se {
				pos := naturalOrder[k]
				if blk[pos] != 0 {
					refine(pos)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if v != 0 {
				blk[naturalOrder[k]] = v
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= sp.se; k++ {
			if pos := naturalOrder[k]; blk[pos] != 0 {
				refine(pos)
			}
		}
		d.eobrun--
	}
	return nil
}

// finishProgressive runs the IDCT over every block once all scans are in,
// with block smoothing where libjpeg-turbo would apply it.
func (d *decoder) finishProgressive() {
	smooth := d.smoothingOK()
	var blk [64]int16
	for i := range d.comps {
		c := &d.comps[i]
		if c.quant == nil {
			// Never scanned: libjpeg's coefficients stay zero; its quant
			// table would not be latched and it errors. Leave mid-grey.
			for j := range c.plane {
				c.plane[j] = 128
			}
			continue
		}
		wb, hb := (c.dsw+7)/8, (c.dsh+7)/8
		if smooth {
			if d.scanNumber == 1 {
				for k := range c.prevCoefBits {
					c.prevCoefBits[k] = -1
				}
			}
			for by := 0; by < hb; by++ {
				d.smoothRow(c, by, wb, hb, c.vs, d.iMCURows, &blk)
			}
			continue
		}
		for by := 0; by < hb; by++ {
			for bx := 0; bx < wb; bx++ {
				copy(blk[:], c.coefs[(by*c.bw+bx)*64:][:64])
				idctIslow(&blk, c.quant, c.plane[by*8*c.stride+bx*8:], c.stride)
			}
		}
	}
}
