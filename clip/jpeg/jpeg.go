// Package jpeg decodes JPEG files to the same pixels as Pillow 9.4 with
// libjpeg-turbo 2.1 (Debian's python3-pil): Image.open(p).convert("RGB"),
// or mode "L" for greyscale files.
//
// It follows libjpeg-turbo's default decompression path step by step, so
// that every output byte matches:
//
//   - Huffman decoding of baseline, extended-sequential and progressive
//     files, restart intervals, and libjpeg's recovery from a segment that
//     ends early (the rest of the segment decodes as zero bits, then as
//     empty blocks);
//   - the accurate integer IDCT (jidctint.c jpeg_idct_islow, JDCT_ISLOW),
//     with its zero-column and zero-row shortcuts and its wrap-around range
//     limiting;
//   - "fancy" chroma upsampling (jdsample.c h2v1, h2v2 and, for 4:4:0,
//     h1v2 triangle filters; box upsampling when a component is at most two
//     samples wide; int_upsample replication for other integral factors
//     such as 4:1:1), with libjpeg's edge replication;
//   - YCbCr to RGB with jdcolor.c's 16-bit fixed-point tables;
//   - block smoothing (jdcoefct.c decompress_smooth_data) for progressive
//     files whose low-frequency coefficients are left incomplete by their
//     scans; a complete progressive file is not smoothed;
//   - four-component files as Pillow opens them: libjpeg's CMYK (YCCK
//     converted) inverted ("CMYK;I", Adobe's convention, assumed for every
//     CMYK file), then Pillow's cmyk2rgb.
//
// Arithmetic coding, lossless and hierarchical JPEG, and sample precisions
// other than 8 bits are reported as unsupported. A file that ends in the
// middle of entropy-coded data is an error (Pillow too refuses it unless
// ImageFile.LOAD_TRUNCATED_IMAGES is set); where libjpeg-turbo only warns
// (a segment cut short by a marker, bad restart markers) the decoder
// recovers as libjpeg-turbo does. A Huffman code that is in no table is an
// error, where libjpeg-turbo warns and substitutes zero.
//
// The format is not registered with package image; callers use Decode and
// DecodeConfig directly. The fixtures under testdata are made by
// bench/reference/make_jpeg_fixtures.py.
//
// Speed, testdata/bench420.jpg (400×300, 4:2:0, Pillow quality 90), one
// session on the shared 2-core development machine (loaded by other work,
// so best of several runs): this package 1.19 ms (decoded to RGB);
// image/jpeg 1.31 ms (to YCbCr, no colour conversion), from
//
//	go test -run XXX -bench Decode -benchtime 2s -count 4 -cpu 1 ./clip/jpeg
//
// Pillow 9.4 (libjpeg-turbo with SIMD) 2.2–2.9 ms, from
//
//	/usr/bin/python3 -m timeit -n 300 -r 5 -s "from PIL import Image; import io; d=open('clip/jpeg/testdata/bench420.jpg','rb').read()" "Image.open(io.BytesIO(d)).convert('RGB')"
package jpeg

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"sync"
)

// FormatError reports that the input is not a valid JPEG file.
type FormatError string

func (e FormatError) Error() string { return "jpeg: corrupt: " + string(e) }

// UnsupportedError reports a valid JPEG feature that this decoder (and,
// for some of them, Pillow) does not handle.
type UnsupportedError string

func (e UnsupportedError) Error() string { return "jpeg: unsupported: " + string(e) }

// ErrTruncated is returned when the file ends before the image data does.
var ErrTruncated = fmt.Errorf("jpeg: truncated file: %w", io.ErrUnexpectedEOF)

// maxPixels bounds the image size this package will allocate for; the
// JPEG header allows up to 65535×65535. Callers wanting a smaller limit
// check DecodeConfig first.
const maxPixels = 1 << 30

// Marker codes (second byte after 0xFF).
const (
	mSOF0  = 0xC0
	mSOF1  = 0xC1
	mSOF2  = 0xC2
	mSOF3  = 0xC3
	mDHT   = 0xC4
	mSOF5  = 0xC5
	mSOF15 = 0xCF
	mDAC   = 0xCC
	mRST0  = 0xD0
	mRST7  = 0xD7
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDNL   = 0xDC
	mDRI   = 0xDD
	mAPP0  = 0xE0
	mAPP14 = 0xEE
	mAPP15 = 0xEF
	mCOM   = 0xFE
	mTEM   = 0x01
)

// component is one colour component of the frame.
type component struct {
	id      uint8
	h, v    int         // sampling factors
	tq      int         // quantisation table selector
	quant   *[64]int32  // ISLOW_MULT_TYPE (int16) values, natural order
	qraw    *[64]uint16 // the latched table as read
	bw, bh  int         // blocks per row and column, padded to whole MCUs
	dsw     int         // libjpeg's downsampled_width: samples per row that are image
	dsh     int         // downsampled_height
	plane   []byte
	stride  int
	coefs   []int16 // progressive: bw*bh blocks of 64, natural order
	scanned bool
	vs      int // v as declared: libjpeg keeps it for a one-component image

	// progressive bookkeeping (jdphuff.c coef_bits, jdcoefct.c latches)
	coefBits     [64]int
	prevCoefBits [64]int

	dcPred int32
	dcTbl  int
	acTbl  int
}

type decoder struct {
	data []byte
	pos  int

	width, height int
	frameSeen     bool
	progressive   bool
	comps         []component
	hmax, vmax    int
	mcusX, mcusY  int

	qt      [4][64]uint16 // natural order
	qtSet   [4]bool
	dc, ac  [4]huffTable
	restart int
	nextRST int

	jfif           bool
	adobe          bool
	adobeTransform int

	scanNumber  int
	iMCURows    int // libjpeg's total_iMCU_rows
	lastGoodRow int // iMCU row of the last MCU decoded with data left
	br          bitReader
	insuff      bool // libjpeg's insufficient_data
	eobrun      int
	planeBuf    []byte // all planes, from planePool
	unread      int    // marker read but left for the next reader, 0 if none
}

// DecodeConfig returns the size and colour model of a JPEG file without
// decoding its pixels: color.GrayModel for one-component files, else
// color.RGBAModel (what Decode returns after conversion).
func DecodeConfig(r io.Reader) (image.Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return image.Config{}, fmt.Errorf("jpeg: %w", err)
	}
	d := &decoder{data: data}
	if err := d.readUntilFrame(); err != nil {
		return image.Config{}, err
	}
	cfg := image.Config{Width: d.width, Height: d.height, ColorModel: color.RGBAModel}
	if len(d.comps) == 1 {
		cfg.ColorModel = color.GrayModel
	}
	return cfg, nil
}

// Decode decodes a JPEG file. A one-component file gives an *image.Gray
// (Pillow's mode "L"); any other gives an *image.RGBA with alpha 255
// holding Pillow's convert("RGB") of the file.
func Decode(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	return DecodeBytes(data)
}

// DecodeBytes is Decode for a file already in memory.
func DecodeBytes(data []byte) (image.Image, error) {
	d := &decoder{data: data}
	if err := d.readUntilFrame(); err != nil {
		return nil, err
	}
	if err := d.allocate(); err != nil {
		return nil, err
	}
	if err := d.decodeScans(); err != nil {
		d.release()
		return nil, err
	}
	defer d.release()
	if d.progressive {
		d.finishProgressive()
	}
	return d.output()
}

// readUntilFrame checks the SOI marker and reads markers up to and
// including the frame header.
func (d *decoder) readUntilFrame() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return FormatError("not a JPEG file: missing SOI marker")
	}
	d.pos = 2
	for !d.frameSeen {
		m, err := d.nextMarker()
		if err != nil {
			return err
		}
		if m == mSOS || m == mEOI {
			return FormatError(fmt.Sprintf("marker 0x%02X before the frame header", m))
		}
		if err := d.processMarker(m); err != nil {
			return err
		}
	}
	return nil
}

// nextMarker skips to the next marker as jdmarker.c next_marker does
// (garbage and fill bytes are skipped) and returns its code, leaving pos
// after it.
func (d *decoder) nextMarker() (int, error) {
	for {
		for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			return 0, ErrTruncated
		}
		c := int(d.data[d.pos])
		d.pos++
		if c != 0 {
			return c, nil
		}
	}
}

// segment returns the payload of a marker segment with a length field.
func (d *decoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, ErrTruncated
	}
	n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	if n < 2 {
		return nil, FormatError("marker segment length < 2")
	}
	if d.pos+n > len(d.data) {
		return nil, ErrTruncated
	}
	p := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return p, nil
}

// processMarker handles every marker but SOS and EOI.
func (d *decoder) processMarker(m int) error {
	switch {
	case m == mSOF0 || m == mSOF1 || m == mSOF2:
		p, err := d.segment()
		if err != nil {
			return err
		}
		return d.parseSOF(p, m == mSOF2)
	case m == mSOF3:
		return UnsupportedError("lossless JPEG (SOF3)")
	case m == 0xC9 || m == 0xCA:
		return UnsupportedError("arithmetic coding")
	case m == 0xCB:
		return UnsupportedError("lossless JPEG with arithmetic coding (SOF11)")
	case m == mSOF5 || m == 0xC6 || m == 0xC7 || m == 0xCD || m == 0xCE || m == mSOF15:
		return UnsupportedError(fmt.Sprintf("hierarchical JPEG (SOF%d)", m-mSOF0))
	case m == mDHT:
		p, err := d.segment()
		if err != nil {
			return err
		}
		return d.parseDHT(p)
	case m == mDQT:
		p, err := d.segment()
		if err != nil {
			return err
		}
		return d.parseDQT(p)
	case m == mDRI:
		p, err := d.segment()
		if err != nil {
			return err
		}
		if len(p) != 2 {
			return FormatError("DRI segment length")
		}
		d.restart = int(p[0])<<8 | int(p[1])
		return nil
	case m == mAPP0 || m == mAPP14:
		p, err := d.segment()
		if err != nil {
			return err
		}
		if m == mAPP0 && len(p) >= 14 && string(p[:5]) == "JFIF\x00" {
			d.jfif = true
		}
		if m == mAPP14 && len(p) >= 12 && string(p[:5]) == "Adobe" {
			d.adobe = true
			d.adobeTransform = int(p[11])
		}
		return nil
	case m > mAPP0 && m <= mAPP15, m == mCOM, m == mDAC, m == mDNL:
		_, err := d.segment()
		return err
	case m >= mRST0 && m <= mRST7, m == mTEM:
		return nil // parameterless; libjpeg ignores a stray one
	case m == mSOI:
		return FormatError("second SOI marker")
	}
	return FormatError(fmt.Sprintf("unknown marker 0x%02X", m))
}

func (d *decoder) parseSOF(p []byte, progressive bool) error {
	if d.frameSeen {
		return FormatError("second frame header")
	}
	if len(p) < 6 {
		return FormatError("frame header too short")
	}
	if p[0] != 8 {
		return UnsupportedError(fmt.Sprintf("%d-bit samples (only 8-bit)", p[0]))
	}
	d.height = int(p[1])<<8 | int(p[2])
	d.width = int(p[3])<<8 | int(p[4])
	n := int(p[5])
	if d.height == 0 {
		return UnsupportedError("image height 0 (DNL marker)")
	}
	if d.width == 0 {
		return FormatError("image width 0")
	}
	if d.width*d.height > maxPixels {
		return UnsupportedError(fmt.Sprintf("image of %d×%d pixels is too large", d.width, d.height))
	}
	if n != 1 && n != 3 && n != 4 {
		return UnsupportedError(fmt.Sprintf("%d components (Pillow reads 1, 3 or 4)", n))
	}
	if len(p) != 6+3*n {
		return FormatError("frame header length")
	}
	d.progressive = progressive
	d.comps = make([]component, n)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		c.id = p[6+3*i]
		c.h, c.v = int(p[7+3*i]>>4), int(p[7+3*i]&15)
		c.tq = int(p[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return FormatError(fmt.Sprintf("component %d sampling factors %d×%d", i, c.h, c.v))
		}
		if c.tq > 3 {
			return FormatError(fmt.Sprintf("component %d quantisation table %d", i, c.tq))
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return UnsupportedError(fmt.Sprintf("fractional sampling factors (component %d is %d×%d, maximum %d×%d)", i, c.h, c.v, d.hmax, d.vmax))
		}
	}
	d.iMCURows = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		d.comps[i].vs = d.comps[i].v
	}
	if n == 1 {
		// A single-component image is not interleaved: its MCU is one block
		// whatever its sampling factors say.
		d.comps[0].h, d.comps[0].v = 1, 1
		d.hmax, d.vmax = 1, 1
	}
	d.mcusX = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.dsw = (d.width*c.h + d.hmax - 1) / d.hmax
		c.dsh = (d.height*c.v + d.vmax - 1) / d.vmax
		c.bw = d.mcusX * c.h
		c.bh = d.mcusY * c.v
		for k := range c.coefBits {
			c.coefBits[k] = -1
			c.prevCoefBits[k] = -1
		}
	}
	d.frameSeen = true
	return nil
}

func (d *decoder) parseDQT(p []byte) error {
	for len(p) > 0 {
		pq, tq := p[0]>>4, int(p[0]&15)
		if tq > 3 {
			return FormatError(fmt.Sprintf("quantisation table index %d", tq))
		}
		p = p[1:]
		switch pq {
		case 0:
			if len(p) < 64 {
				return FormatError("DQT segment too short")
			}
			for k := 0; k < 64; k++ {
				d.qt[tq][naturalOrder[k]] = uint16(p[k])
			}
			p = p[64:]
		case 1:
			if len(p) < 128 {
				return FormatError("DQT segment too short")
			}
			for k := 0; k < 64; k++ {
				d.qt[tq][naturalOrder[k]] = uint16(p[2*k])<<8 | uint16(p[2*k+1])
			}
			p = p[128:]
		default:
			return FormatError(fmt.Sprintf("quantisation table precision %d", pq))
		}
		d.qtSet[tq] = true
	}
	return nil
}

// allocate makes the sample planes (and coefficient arrays of a
// progressive file).
func (d *decoder) allocate() error {
	total := 0
	for i := range d.comps {
		c := &d.comps[i]
		c.stride = c.bw * 8
		total += c.stride * c.bh * 8
	}
	// The planes are internal, so one buffer from a pool serves them all
	// (a decoder run over a dataset allocates only its output images).
	// Every plane byte that is read is written first, except those of a
	// component no scan names, which output fills.
	var buf []byte
	if p, ok := planePool.Get().(*[]byte); ok && cap(*p) >= total {
		buf = (*p)[:total]
	} else {
		buf = make([]byte, total)
	}
	d.planeBuf = buf
	for i := range d.comps {
		c := &d.comps[i]
		n := c.stride * c.bh * 8
		c.plane, buf = buf[:n:n], buf[n:]
		if d.progressive {
			c.coefs = make([]int16, c.bw*c.bh*64)
		}
	}
	return nil
}

var planePool sync.Pool

// release returns the plane buffer to the pool.
func (d *decoder) release() {
	if d.planeBuf != nil {
		b := d.planeBuf
		d.planeBuf = nil
		for i := range d.comps {
			d.comps[i].plane = nil
		}
		planePool.Put(&b)
	}
}

// colorSpace is libjpeg's jpeg_color_space as default_decompress_parms
// guesses it.
type colorSpace int

const (
	csGray colorSpace = iota
	csYCbCr
	csRGB
	csCMYK
	csYCCK
)

func (d *decoder) colorSpace() colorSpace {
	switch len(d.comps) {
	case 1:
		return csGray
	case 3:
		switch {
		case d.jfif:
			return csYCbCr
		case d.adobe:
			if d.adobeTransform == 0 {
				return csRGB
			}
			return csYCbCr
		case d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B':
			return csRGB
		}
		return csYCbCr
	default:
		if d.adobe && d.adobeTransform != 0 {
			return csYCCK
		}
		return csCMYK
	}
}

var errNoScan = errors.New("jpeg: corrupt: no image data (EOI before any scan)")
