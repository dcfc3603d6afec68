package jpeg

// The accurate integer IDCT of libjpeg (jidctint.c jpeg_idct_islow): the
// Loeffler-Ligtenberg-Moschytz algorithm with 13-bit constants, two extra
// bits of precision kept between the column and row passes, and the same
// shortcuts for all-zero AC terms (they change the rounding, so they are
// part of the result, not only an optimisation).

const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// idctLimit is libjpeg's post-IDCT range limit (IDCT_range_limit indexed
// with RANGE_MASK): x & 1023 read as a signed 10-bit value, plus 128,
// clamped to 0..255.
var idctLimit = func() (t [1024]uint8) {
	for i := range t {
		v := i
		if v >= 512 {
			v -= 1024
		}
		t[i] = clamp8(v + 128)
	}
	return
}()

func clamp8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// idctIslow dequantises blk (natural order) with q and writes the 8×8
// samples to dst with the given stride.
func idctIslow(blk *[64]int16, q *[64]int32, dst []byte, stride int) {
	var ws [64]int32
	_ = dst[7*stride+7]

	// Pass 1: columns from the input, results scaled up by 2^pass1Bits.
	for c := 0; c < 8; c++ {
		if blk[8+c] == 0 && blk[16+c] == 0 && blk[24+c] == 0 && blk[32+c] == 0 &&
			blk[40+c] == 0 && blk[48+c] == 0 && blk[56+c] == 0 {
			dc := int32(int64(int32(blk[c])*q[c]) << pass1Bits)
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dc
			}
			continue
		}
		// Even part.
		z2 := int64(int32(blk[16+c]) * q[16+c])
		z3 := int64(int32(blk[48+c]) * q[48+c])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		z2 = int64(int32(blk[c]) * q[c])
		z3 = int64(int32(blk[32+c]) * q[32+c])
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		// Odd part.
		tmp0 = int64(int32(blk[56+c]) * q[56+c])
		tmp1 = int64(int32(blk[40+c]) * q[40+c])
		tmp2 = int64(int32(blk[24+c]) * q[24+c])
		tmp3 = int64(int32(blk[8+c]) * q[8+c])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		const sh = constBits - pass1Bits
		const rnd = 1 << (sh - 1)
		ws[c] = int32((tmp10 + tmp3 + rnd) >> sh)
		ws[56+c] = int32((tmp10 - tmp3 + rnd) >> sh)
		ws[8+c] = int32((tmp11 + tmp2 + rnd) >> sh)
		ws[48+c] = int32((tmp11 - tmp2 + rnd) >> sh)
		ws[16+c] = int32((tmp12 + tmp1 + rnd) >> sh)
		ws[40+c] = int32((tmp12 - tmp1 + rnd) >> sh)
		ws[24+c] = int32((tmp13 + tmp0 + rnd) >> sh)
		ws[32+c] = int32((tmp13 - tmp0 + rnd) >> sh)
	}

	// Pass 2: rows from the workspace, descaled by 2^(pass1Bits+3).
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		out := dst[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			const sh = pass1Bits + 3
			v := idctLimit[((int64(w[0])+1<<(sh-1))>>sh)&1023]
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2 := int64(w[2])
		z3 := int64(w[6])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp0 = int64(w[7])
		tmp1 = int64(w[5])
		tmp2 = int64(w[3])
		tmp3 = int64(w[1])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		const sh = constBits + pass1Bits + 3
		const rnd = 1 << (sh - 1)
		out[0] = idctLimit[((tmp10+tmp3+rnd)>>sh)&1023]
		out[7] = idctLimit[((tmp10-tmp3+rnd)>>sh)&1023]
		out[1] = idctLimit[((tmp11+tmp2+rnd)>>sh)&1023]
		out[6] = idctLimit[((tmp11-tmp2+rnd)>>sh)&1023]
		out[2] = idctLimit[((tmp12+tmp1+rnd)>>sh)&1023]
		out[5] = idctLimit[((tmp12-tmp1+rnd)>>sh)&1023]
		out[3] = idctLimit[((tmp13+tmp0+rnd)>>sh)&1023]
		out[4] = idctLimit[((tmp13-tmp0+rnd)>>sh)&1023]
	}
}
