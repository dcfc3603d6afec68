package jpeg

import (
	"errors"
	"fmt"
)

// naturalOrder maps zig-zag index to natural (row-major) index; the 16
// extra entries catch a run that overshoots the block in corrupt data, as
// jutils.c jpeg_natural_order does.
var naturalOrder = [64 + 16]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}

// decodeScans reads the rest of the file after the frame header: tables,
// scans, up to EOI. A file that ends without EOI after at least one scan
// is accepted.
func (d *decoder) decodeScans() error {
	for {
		m, err := d.readMarker()
		if err != nil {
			if errors.Is(err, ErrTruncated) && d.scanNumber > 0 {
				return nil
			}
			return err
		}
		switch m {
		case mEOI:
			if d.scanNumber == 0 {
				return errNoScan
			}
			return nil
		case mSOS:
			p, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.scan(p); err != nil {
				return err
			}
		default:
			if err := d.processMarker(m); err != nil {
				return err
			}
		}
	}
}

// maxScans bounds the work a small file can cause: each scan walks every
// MCU of the image (libjpeg-turbo's djpeg has -maxscans for the same
// reason). Real progressive files have about ten.
const maxScans = 500

// scanParams is a parsed SOS header.
type scanParams struct {
	comps          []*component
	ss, se, ah, al int
}

func (d *decoder) parseSOS(p []byte) (scanParams, error) {
	var sp scanParams
	if len(p) < 1 {
		return sp, FormatError("SOS segment too short")
	}
	n := int(p[0])
	if n < 1 || n > 4 || len(p) != 4+2*n {
		return sp, FormatError(fmt.Sprintf("SOS with %d components and length %d", n, len(p)))
	}
	for i := 0; i < n; i++ {
		id, tables := p[1+2*i], p[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
				break
			}
		}
		if c == nil {
			return sp, FormatError(fmt.Sprintf("scan names component id %d, not in the frame", id))
		}
		for _, o := range sp.comps {
			if o == c {
				return sp, FormatError(fmt.Sprintf("scan names component id %d twice", id))
			}
		}
		c.dcTbl, c.acTbl = int(tables>>4), int(tables&15)
		if c.dcTbl > 3 || c.acTbl > 3 {
			return sp, FormatError(fmt.Sprintf("Huffman table selectors %d/%d", c.dcTbl, c.acTbl))
		}
		sp.comps = append(sp.comps, c)
	}
	q := p[1+2*n:]
	sp.ss, sp.se, sp.ah, sp.al = int(q[0]), int(q[1]), int(q[2]>>4), int(q[2]&15)
	if n > 1 {
		blocks := 0
		for _, c := range sp.comps {
			blocks += c.h * c.v
		}
		if blocks > 10 {
			return sp, FormatError(fmt.Sprintf("interleaved scan with %d blocks per MCU (at most 10)", blocks))
		}
	}
	return sp, nil
}

// scan decodes one scan whose SOS payload is p.
func (d *decoder) scan(p []byte) error {
	sp, err := d.parseSOS(p)
	if err != nil {
		return err
	}
	d.scanNumber++
	if d.scanNumber > maxScans {
		return FormatError(fmt.Sprintf("more than %d scans", maxScans))
	}
	// Latch quantisation tables at a component's first scan (jdinput.c
	// latch_quant_tables).
	for _, c := range sp.comps {
		if c.quant == nil {
			if !d.qtSet[c.tq] {
				return FormatError(fmt.Sprintf("quantisation table %d not defined", c.tq))
			}
			c.quant = new([64]int32)
			c.qraw = new([64]uint16)
			*c.qraw = d.qt[c.tq]
			for k, q := range d.qt[c.tq] {
				c.quant[k] = int32(int16(q)) // ISLOW_MULT_TYPE is a short
			}
		}
		c.scanned = true
	}
	if d.progressive {
		if err := d.checkProgression(sp); err != nil {
			return err
		}
	} else {
		d.defaultTables()
		for _, c := range sp.comps {
			if err := d.checkTable(&d.dc[c.dcTbl], true, c.dcTbl); err != nil {
				return err
			}
			if err := d.checkTable(&d.ac[c.acTbl], false, c.acTbl); err != nil {
				return err
			}
		}
	}

	// MCU geometry
	mcusX, mcusY := d.mcusX, d.mcusY
	if len(sp.comps) == 1 {
		c := sp.comps[0]
		mcusX, mcusY = (c.dsw+7)/8, (c.dsh+7)/8
	}
	d.br.reset(d.data, d.pos)
	d.insuff = false
	d.eobrun = 0
	d.nextRST = 0
	for _, c := range sp.comps {
		c.dcPred = 0
	}
	toGo := d.restart
	var blk [64]int16
	for my := 0; my < mcusY; my++ {
		for mx := 0; mx < mcusX; mx++ {
			if d.restart > 0 {
				if toGo == 0 {
					if err := d.processRestart(sp); err != nil {
						return err
					}
					toGo = d.restart
				}
				toGo--
			}
			if d.insuff {
				if !d.progressive {
					d.emptyMCU(sp, mx, my)
				}
				continue
			}
			if len(sp.comps) > 1 {
				d.lastGoodRow = my
			} else {
				d.lastGoodRow = my / sp.comps[0].vs
			}
			var err error
			if d.progressive {
				err = d.progressiveMCU(sp, mx, my)
			} else {
				err = d.sequentialMCU(sp, mx, my, &blk)
			}
			if err != nil {
				return err
			}
			if d.br.overrun() {
				if d.br.eof {
					return ErrTruncated
				}
				d.insuff = true
			}
		}
	}
	// Resume marker parsing where the entropy decoder stopped.
	if d.unread == 0 {
		d.pos = d.br.pos
	}
	return nil
}

// checkTable verifies a Huffman table used by a scan (jdhuff.c
// jpeg_make_d_derived_tbl: it must exist, and DC symbols are at most 15).
func (d *decoder) checkTable(t *huffTable, dc bool, idx int) error {
	kind := "AC"
	if dc {
		kind = "DC"
	}
	if !t.defined {
		return FormatError(fmt.Sprintf("%s Huffman table %d not defined", kind, idx))
	}
	if dc && t.maxSym > 15 {
		return FormatError(fmt.Sprintf("DC Huffman table %d has a symbol > 15", idx))
	}
	return nil
}

// processRestart discards the remaining bits and reads the expected RSTn
// marker, resynchronising as jdmarker.c jpeg_resync_to_restart does when
// it is not there.
func (d *decoder) processRestart(sp scanParams) error {
	if d.unread == 0 {
		d.pos = d.br.pos
	}
	marker, err := d.readMarker()
	if err != nil {
		return err
	}
	desired := d.nextRST
	for {
		action := 1
		switch {
		case marker == mRST0+desired:
			action = 1
		case marker < 0xC0:
			action = 2
		case marker < mRST0 || marker > mRST7:
			action = 3
		case marker == mRST0+(desired+1)&7 || marker == mRST0+(desired+2)&7:
			action = 3
		case marker == mRST0+(desired-1)&7 || marker == mRST0+(desired-2)&7:
			action = 2
		}
		if action == 2 {
			if marker, err = d.nextMarker(); err != nil {
				return err
			}
			continue
		}
		d.br.reset(d.data, d.pos)
		if action == 1 {
			d.insuff = false
		} else {
			// Leave the marker unread: the next segment decodes as empty.
			d.unread = marker
			d.br.stop, d.br.marker = true, marker
		}
		break
	}
	d.nextRST = (d.nextRST + 1) & 7
	for _, c := range sp.comps {
		c.dcPred = 0
	}
	d.eobrun = 0
	return nil
}

// readMarker returns the marker the entropy decoder stopped at (or left
// unread), or else the next marker from pos.
func (d *decoder) readMarker() (int, error) {
	if m := d.unread; m != 0 {
		d.unread = 0
		return m, nil
	}
	return d.nextMarker()
}

// sequentialMCU decodes one MCU of a sequential scan and writes its
// blocks' IDCT to the component planes.
func (d *decoder) sequentialMCU(sp scanParams, mx, my int, blk *[64]int16) error {
	b := &d.br
	for _, c := range sp.comps {
		hb, vb := c.h, c.v
		if len(sp.comps) == 1 {
			hb, vb = 1, 1
		}
		dct, act := &d.dc[c.dcTbl], &d.ac[c.acTbl]
		for by := 0; by < vb; by++ {
			for bx := 0; bx < hb; bx++ {
				*blk = [64]int16{}
				s, err := b.decode(dct)
				if err != nil {
					return err
				}
				c.dcPred += b.receiveExtend(uint(s))
				blk[0] = int16(c.dcPred)
				for k := 1; k < 64; k++ {
					// Inlined decode: after a refill there are at least 57
					// bits, enough for a code (≤ 16) and its value (≤ 15).
					if b.n < 32 {
						b.fill()
					}
					var rs uint8
					if e := act.lut[b.acc>>(64-lookBits)]; e != 0 {
						l := uint(e >> 8)
						b.acc <<= l
						b.n -= l
						rs = uint8(e)
					} else if rs, err = b.decode(act); err != nil {
						return err
					}
					r, s := int(rs>>4), uint(rs&15)
					if s != 0 {
						k += r
						v := int32(b.acc >> (64 - s))
						b.acc <<= s
						b.n -= s
						if v < 1<<(s-1) {
							v += -1<<s + 1
						}
						blk[naturalOrder[k]] = int16(v)
					} else {
						if r != 15 {
							break
						}
						k += 15
					}
				}
				col, row := (mx*hb+bx)*8, (my*vb+by)*8
				idctIslow(blk, c.quant, c.plane[row*c.stride+col:], c.stride)
			}
		}
	}
	return nil
}

// emptyMCU writes the IDCT of all-zero blocks (mid-grey) for an MCU that
// libjpeg skips after its data ran out.
func (d *decoder) emptyMCU(sp scanParams, mx, my int) {
	for _, c := range sp.comps {
		hb, vb := c.h, c.v
		if len(sp.comps) == 1 {
			hb, vb = 1, 1
		}
		for by := 0; by < vb; by++ {
			for bx := 0; bx < hb; bx++ {
				col, row := (mx*hb+bx)*8, (my*vb+by)*8
				for y := 0; y < 8; y++ {
					o := (row+y)*c.stride + col
					copy(c.plane[o:o+8], "\x80\x80\x80\x80\x80\x80\x80\x80")
				}
			}
		}
	}
}
