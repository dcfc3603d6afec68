package jpeg

import "fmt"

// lookBits is the number of bits the Huffman lookup table resolves at once
// (libjpeg's HUFF_LOOKAHEAD is 8; a code longer than this takes the slow
// path, as in jdhuff.c jpeg_huff_decode).
const lookBits = 9

// huffTable is a decoding table built as jdhuff.c jpeg_make_d_derived_tbl
// builds it, plus a lookahead table.
type huffTable struct {
	defined bool
	maxSym  uint8
	lut     [1 << lookBits]uint16 // len<<8 | symbol; 0 if the code is longer
	maxcode [18]int32             // largest code of each length, -1 if none
	valoff  [18]int32             // symbol index minus code, per length
	vals    [256]uint8
}

// parseDHT reads a DHT segment (jdmarker.c get_dht).
func (d *decoder) parseDHT(p []byte) error {
	for len(p) > 0 {
		if len(p) < 17 {
			return FormatError("DHT segment too short")
		}
		class, idx := p[0]>>4, int(p[0]&15)
		if class > 1 || idx > 3 {
			return FormatError(fmt.Sprintf("Huffman table class %d index %d", class, idx))
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(p[l])
			total += counts[l]
		}
		p = p[17:]
		if total > 256 || total > len(p) {
			return FormatError("Huffman table has too many symbols")
		}
		t := &d.dc[idx]
		if class == 1 {
			t = &d.ac[idx]
		}
		if err := t.build(&counts, p[:total]); err != nil {
			return err
		}
		p = p[total:]
	}
	return nil
}

func (t *huffTable) build(counts *[17]int, vals []byte) error {
	*t = huffTable{}
	copy(t.vals[:], vals)
	for _, v := range vals {
		t.maxSym = max(t.maxSym, v)
	}
	// Canonical codes, checking that none overflows its length.
	code, k := int32(0), 0
	var codes [256]int32
	var sizes [256]uint8
	for l := 1; l <= 16; l++ {
		for i := 0; i < counts[l]; i++ {
			codes[k], sizes[k] = code, uint8(l)
			code++
			k++
		}
		if code >= 1<<l {
			return FormatError("bad Huffman table (code overflow)")
		}
		code <<= 1
	}
	k = 0
	for l := 1; l <= 16; l++ {
		if counts[l] > 0 {
			t.valoff[l] = int32(k) - codes[k]
			k += counts[l]
			t.maxcode[l] = codes[k-1]
		} else {
			t.maxcode[l] = -1
		}
	}
	t.maxcode[17] = 0xFFFFF
	for i := 0; i < k; i++ {
		l := int(sizes[i])
		if l > lookBits {
			break
		}
		shift := lookBits - l
		base := int(codes[i]) << shift
		e := uint16(l)<<8 | uint16(vals[i])
		for j := 0; j < 1<<shift; j++ {
			t.lut[base+j] = e
		}
	}
	t.defined = true
	return nil
}

// bitReader reads entropy-coded data MSB first, undoing byte stuffing. At
// a marker (or the end of the data) it supplies zero bits, as libjpeg's
// jpeg_fill_bit_buffer does, and counts them in pad so that the decoder
// can tell when real data ran out.
type bitReader struct {
	acc    uint64 // next bits, left-aligned
	n      uint   // valid bits in acc
	pad    uint   // zero bits appended after the data ran out
	data   []byte
	pos    int
	stop   bool // at a marker or the end of data: pos does not advance
	eof    bool // stopped at the end of the data, not at a marker
	marker int  // the marker code, when stopped at a marker
}

func (b *bitReader) reset(data []byte, pos int) {
	*b = bitReader{data: data, pos: pos}
}

// fill tops the accumulator up to at least 57 bits.
func (b *bitReader) fill() {
	for b.n <= 56 {
		if b.stop {
			b.n += 8
			b.pad += 8
			continue
		}
		if b.pos >= len(b.data) {
			b.stop, b.eof = true, true
			continue
		}
		c := b.data[b.pos]
		if c == 0xFF {
			j := b.pos + 1
			for j < len(b.data) && b.data[j] == 0xFF {
				j++
			}
			if j >= len(b.data) {
				b.stop, b.eof = true, true
				continue
			}
			if b.data[j] != 0 {
				b.stop, b.marker = true, int(b.data[j])
				continue
			}
			b.pos = j + 1
		} else {
			b.pos++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports whether bits past the end of the data were consumed.
func (b *bitReader) overrun() bool { return b.pad > b.n }

// bits returns the next n (≤ 16) bits; the caller has ensured b.n ≥ n.
func (b *bitReader) bits(n uint) int32 {
	v := int32(b.acc >> (64 - n))
	b.acc <<= n
	b.n -= n
	return v
}

// receiveExtend reads s bits and sign-extends them (jdhuff.h HUFF_EXTEND).
func (b *bitReader) receiveExtend(s uint) int32 {
	if s == 0 {
		return 0
	}
	if b.n < s {
		b.fill()
	}
	v := int32(b.acc >> (64 - s))
	b.acc <<= s
	b.n -= s
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// decode reads one Huffman-coded symbol.
func (b *bitReader) decode(t *huffTable) (uint8, error) {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lut[b.acc>>(64-lookBits)]; e != 0 {
		l := uint(e >> 8)
		b.acc <<= l
		b.n -= l
		return uint8(e), nil
	}
	code := int32(b.acc >> (64 - lookBits - 1))
	l := lookBits + 1
	for l <= 16 && code > t.maxcode[l] {
		l++
		code = int32(b.acc >> (64 - uint(l)))
	}
	if l > 16 {
		return 0, FormatError("bad Huffman code")
	}
	b.acc <<= uint(l)
	b.n -= uint(l)
	return t.vals[uint8(code+t.valoff[l])], nil
}
