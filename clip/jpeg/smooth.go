package jpeg

// Block smoothing of progressive files (jdcoefct.c smoothing_ok and
// decompress_smooth_data of libjpeg-turbo 2.1): when some of the first
// nine AC coefficients (zig-zag 1..9) of a component are still unknown or
// not fully refined after the last scan, libjpeg-turbo estimates them from
// the DC values of the 5×5 neighbouring blocks before the IDCT. Pillow
// reads the whole file before its output pass, so the state after the last
// scan decides. The neighbour selection follows libjpeg's iMCU-row buffer
// (including its quirks near the top, bottom and right edges).

// zig-zag positions 0..9 in natural order
var smoothPos = [10]int{0, 1, 8, 16, 9, 2, 3, 10, 17, 24}

func (d *decoder) smoothingOK() bool {
	if !d.progressive {
		return false
	}
	useful := false
	for i := range d.comps {
		c := &d.comps[i]
		if c.qraw == nil {
			return false
		}
		for _, p := range smoothPos {
			if c.qraw[p] == 0 {
				return false
			}
		}
		if c.coefBits[0] < 0 {
			return false
		}
		for k := 1; k < 10; k++ {
			if c.coefBits[k] != 0 {
				useful = true
			}
		}
	}
	return useful
}

// smoothRow smooths and transforms block row by of component c; wb and hb
// are its width and height in blocks, v its vertical sampling factor and
// totalRows the number of iMCU rows.
func (d *decoder) smoothRow(c *component, by, wb, hb, v, totalRows int, blk *[64]int16) {
	R, br := by/v, by%v
	last := totalRows - 1
	blockRows := v
	if R == last {
		blockRows = hb - R*v
	}
	prev, pp, next, nn := by, 0, by, 0
	if br > 0 || R > 0 {
		prev = by - 1
	}
	pp = prev
	if br > 1 || R > 1 {
		pp = by - 2
	}
	if br < blockRows-1 || R < last {
		next = by + 1
	}
	nn = next
	if br < blockRows-2 || R+1 < last {
		nn = by + 2
	}
	rows := [5]int{pp, prev, by, next, nn}
	dcAt := func(row, col int) int64 { return int64(c.coefs[(row*c.bw+col)*64]) }

	bits := &c.coefBits
	if R > d.lastGoodRow {
		bits = &c.prevCoefBits
	}
	changeDC := true
	for k := 1; k < 10; k++ {
		if bits[k] != -1 {
			changeDC = false
		}
	}
	var q [10]int64
	for i, p := range smoothPos {
		q[i] = int64(c.qraw[p])
	}

	var D [5][5]int64
	for i, r := range rows {
		for j := range D[i] {
			D[i][j] = dcAt(r, 0)
		}
	}
	for bx := 0; bx < wb; bx++ {
		copy(blk[:], c.coefs[(by*c.bw+bx)*64:][:64])
		if bx == 0 && bx < wb-1 {
			for i, r := range rows {
				D[i][3] = dcAt(r, 1)
			}
		}
		if bx+1 < wb-1 {
			for i, r := range rows {
				D[i][4] = dcAt(r, bx+2)
			}
		}
		smoothBlock(blk, bits, &q, &D, changeDC)
		idctIslow(blk, c.quant, c.plane[by*8*c.stride+bx*8:], c.stride)
		for i := range D {
			D[i][0], D[i][1], D[i][2], D[i][3] = D[i][1], D[i][2], D[i][3], D[i][4]
		}
	}
}

// predict is the estimate of one coefficient: num/(Q·256) rounded, its
// magnitude capped below 2^Al when Al > 0.
func predict(num, q int64, al int) int16 {
	var pred int64
	if num >= 0 {
		pred = (q<<7 + num) / (q << 8)
	} else {
		pred = (q<<7 - num) / (q << 8)
	}
	if al > 0 && pred >= 1<<al {
		pred = 1<<al - 1
	}
	if num < 0 {
		pred = -pred
	}
	return int16(int32(pred))
}

func smoothBlock(w *[64]int16, bits *[64]int, q *[10]int64, D *[5][5]int64, changeDC bool) {
	DC01, DC02, DC03, DC04, DC05 := D[0][0], D[0][1], D[0][2], D[0][3], D[0][4]
	DC06, DC07, DC08, DC09, DC10 := D[1][0], D[1][1], D[1][2], D[1][3], D[1][4]
	DC11, DC12, DC13, DC14, DC15 := D[2][0], D[2][1], D[2][2], D[2][3], D[2][4]
	DC16, DC17, DC18, DC19, DC20 := D[3][0], D[3][1], D[3][2], D[3][3], D[3][4]
	DC21, DC22, DC23, DC24, DC25 := D[4][0], D[4][1], D[4][2], D[4][3], D[4][4]
	Q00, Q01, Q10, Q20, Q11, Q02 := q[0], q[1], q[2], q[3], q[4], q[5]
	Q03, Q12, Q21, Q30 := q[6], q[7], q[8], q[9]

	if al := bits[1]; al != 0 && w[1] == 0 {
		var s int64
		if changeDC {
			s = -DC01 - DC02 + DC04 + DC05 - 3*DC06 + 13*DC07 -
				13*DC09 + 3*DC10 - 3*DC11 + 38*DC12 - 38*DC14 +
				3*DC15 - 3*DC16 + 13*DC17 - 13*DC19 + 3*DC20 -
				DC21 - DC22 + DC24 + DC25
		} else {
			s = -7*DC11 + 50*DC12 - 50*DC14 + 7*DC15
		}
		w[1] = predict(Q00*s, Q01, al)
	}
	if al := bits[2]; al != 0 && w[8] == 0 {
		var s int64
		if changeDC {
			s = -DC01 - 3*DC02 - 3*DC03 - 3*DC04 - DC05 - DC06 +
				13*DC07 + 38*DC08 + 13*DC09 - DC10 + DC16 -
				13*DC17 - 38*DC18 - 13*DC19 + DC20 + DC21 +
				3*DC22 + 3*DC23 + 3*DC24 + DC25
		} else {
			s = -7*DC03 + 50*DC08 - 50*DC18 + 7*DC23
		}
		w[8] = predict(Q00*s, Q10, al)
	}
	if al := bits[3]; al != 0 && w[16] == 0 {
		var s int64
		if changeDC {
			s = DC03 + 2*DC07 + 7*DC08 + 2*DC09 - 5*DC12 - 14*DC13 -
				5*DC14 + 2*DC17 + 7*DC18 + 2*DC19 + DC23
		} else {
			s = -DC03 + 13*DC08 - 24*DC13 + 13*DC18 - DC23
		}
		w[16] = predict(Q00*s, Q20, al)
	}
	if al := bits[4]; al != 0 && w[9] == 0 {
		var s int64
		if changeDC {
			s = -DC01 + DC05 + 9*DC07 - 9*DC09 - 9*DC17 +
				9*DC19 + DC21 - DC25
		} else {
			s = DC10 + DC16 - 10*DC17 + 10*DC19 - DC02 - DC20 + DC22 -
				DC24 + DC04 - DC06 + 10*DC07 - 10*DC09
		}
		w[9] = predict(Q00*s, Q11, al)
	}
	if al := bits[5]; al != 0 && w[2] == 0 {
		var s int64
		if changeDC {
			s = 2*DC07 - 5*DC08 + 2*DC09 + DC11 + 7*DC12 - 14*DC13 +
				7*DC14 + DC15 + 2*DC17 - 5*DC18 + 2*DC19
		} else {
			s = -DC11 + 13*DC12 - 24*DC13 + 13*DC14 - DC15
		}
		w[2] = predict(Q00*s, Q02, al)
	}
	if !changeDC {
		return
	}
	if al := bits[6]; al != 0 && w[3] == 0 {
		w[3] = predict(Q00*(DC07-DC09+2*DC12-2*DC14+DC17-DC19), Q03, al)
	}
	if al := bits[7]; al != 0 && w[10] == 0 {
		w[10] = predict(Q00*(DC07-3*DC08+DC09-DC17+3*DC18-DC19), Q12, al)
	}
	if al := bits[8]; al != 0 && w[17] == 0 {
		w[17] = predict(Q00*(DC07-DC09-3*DC12+3*DC14+DC17-DC19), Q21, al)
	}
	if al := bits[9]; al != 0 && w[24] == 0 {
		w[24] = predict(Q00*(DC07+2*DC08+DC09-DC17-2*DC18-DC19), Q30, al)
	}
	num := Q00 * (-2*DC01 - 6*DC02 - 8*DC03 - 6*DC04 - 2*DC05 -
		6*DC06 + 6*DC07 + 42*DC08 + 6*DC09 - 6*DC10 -
		8*DC11 + 42*DC12 + 152*DC13 + 42*DC14 - 8*DC15 -
		6*DC16 + 6*DC17 + 42*DC18 + 6*DC19 - 6*DC20 -
		2*DC21 - 6*DC22 - 8*DC23 - 6*DC24 - 2*DC25)
	w[0] = predict(num, Q00, 0)
}
