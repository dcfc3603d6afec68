package jpeg

import "image"

// upsampler kinds, chosen per component as jdsample.c jinit_upsampler does
// with do_fancy_upsampling on.
const (
	upFull    = iota // same size as the output
	upH2V1           // triangle filter across
	upH1V2           // triangle filter down (4:4:0)
	upH2V2           // triangle filter both ways (4:2:0)
	upGeneric        // replication by integral factors (and narrow h2v1/h2v2)
)

type upsampler struct {
	c          *component
	kind       int
	hexp, vexp int
	row        []byte // one upsampled output row
}

func (d *decoder) newUpsampler(c *component) upsampler {
	u := upsampler{c: c, hexp: d.hmax / c.h, vexp: d.vmax / c.v}
	switch {
	case u.hexp == 1 && u.vexp == 1:
		u.kind = upFull
	case u.hexp == 2 && u.vexp == 1 && c.dsw > 2:
		u.kind = upH2V1
	case u.hexp == 1 && u.vexp == 2:
		u.kind = upH1V2
	case u.hexp == 2 && u.vexp == 2 && c.dsw > 2:
		u.kind = upH2V2
	default:
		u.kind = upGeneric
	}
	u.row = make([]byte, max(d.width, c.dsw*u.hexp)+1)
	return u
}

// rowAt returns upsampled output row y (at least width samples).
func (u *upsampler) rowAt(y int) []byte {
	c := u.c
	switch u.kind {
	case upFull:
		return c.plane[y*c.stride:]
	case upH2V1:
		fancyH2(c.plane[y*c.stride:][:c.dsw], u.row)
	case upH1V2:
		near, far, bias := u.vrows(y)
		for x := 0; x < c.dsw; x++ {
			u.row[x] = uint8((3*int(near[x]) + int(far[x]) + bias) >> 2)
		}
	case upH2V2:
		near, far, _ := u.vrows(y)
		fancyH2V2(near[:c.dsw], far[:c.dsw], u.row)
	default:
		src := c.plane[(y/u.vexp)*c.stride:]
		if u.hexp == 1 {
			return src
		}
		out := u.row[:c.dsw*u.hexp]
		for x := range out {
			out[x] = src[x/u.hexp]
		}
	}
	return u.row
}

// vrows gives the nearer and further input rows of output row y for a
// component at half the vertical resolution, replicating the top and
// bottom rows as jdmainct.c's context pointers do, and the rounding bias
// of h1v2_fancy_upsample.
func (u *upsampler) vrows(y int) (near, far []byte, bias int) {
	c := u.c
	r := y / 2
	f := r - 1
	bias = 1
	if y&1 == 1 {
		f, bias = r+1, 2
	}
	f = max(0, min(f, c.dsh-1))
	return c.plane[r*c.stride:], c.plane[f*c.stride:], bias
}

// fancyH2 is h2v1_fancy_upsample: each output sample is 3/4 of the nearer
// input and 1/4 of the further, rounding alternately down and up.
func fancyH2(in, out []byte) {
	n := len(in)
	out = out[:2*n]
	out[0] = in[0]
	out[1] = uint8((3*int(in[0]) + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int(in[i])
		out[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((3*int(in[n-1]) + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// fancyH2V2 is h2v2_fancy_upsample for one output row: column sums of
// 3×nearer + further row, then the horizontal triangle filter on them.
func fancyH2V2(near, far, out []byte) {
	n := len(near)
	out = out[:2*n]
	far = far[:n]
	this := 3*int(near[0]) + int(far[0])
	next := 3*int(near[1]) + int(far[1])
	out[0] = uint8((this*4 + 8) >> 4)
	out[1] = uint8((this*3 + next + 7) >> 4)
	last := this
	this = next
	for i := 1; i < n-1; i++ {
		next = 3*int(near[i+1]) + int(far[i+1])
		out[2*i] = uint8((this*3 + last + 8) >> 4)
		out[2*i+1] = uint8((this*3 + next + 7) >> 4)
		last, this = this, next
	}
	out[2*n-2] = uint8((this*3 + last + 8) >> 4)
	out[2*n-1] = uint8((this*4 + 7) >> 4)
}

// jdcolor.c build_ycc_rgb_table: 16-bit fixed point, rounding to nearest.
const (
	scaleBits = 16
	oneHalf   = 1 << (scaleBits - 1)
)

var crR, cbB [256]int32
var crG, cbG [256]int32

func init() {
	fix := func(x float64) int64 { return int64(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int64(i - 128)
		crR[i] = int32((fix(1.40200)*x + oneHalf) >> scaleBits)
		cbB[i] = int32((fix(1.77200)*x + oneHalf) >> scaleBits)
		crG[i] = int32(-fix(0.71414) * x)
		cbG[i] = int32(-fix(0.34414)*x + oneHalf)
	}
}

// limit clamps v in [-384, 639] to 0..255 (libjpeg's sample_range_limit).
var limitTab = func() (t [1024]uint8) {
	for i := range t {
		t[i] = clamp8(i - 384)
	}
	return
}()

func limit(v int32) uint8 { return limitTab[(v+384)&1023] }

// output upsamples and colour-converts the component planes.
func (d *decoder) output() (image.Image, error) {
	w, h := d.width, d.height
	for i := range d.comps {
		if c := &d.comps[i]; !c.scanned {
			// No scan coded it: libjpeg's coefficients stay zero (grey).
			for j := range c.plane {
				c.plane[j] = 128
			}
		}
	}
	cs := d.colorSpace()
	if cs == csGray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		c := &d.comps[0]
		for y := 0; y < h; y++ {
			copy(img.Pix[y*img.Stride:][:w], c.plane[y*c.stride:])
		}
		return img, nil
	}
	ups := make([]upsampler, len(d.comps))
	for i := range d.comps {
		ups[i] = d.newUpsampler(&d.comps[i])
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		out := img.Pix[y*img.Stride:][:4*w]
		switch cs {
		case csYCbCr:
			yr := ups[0].rowAt(y)[:w]
			cb := ups[1].rowAt(y)[:w]
			cr := ups[2].rowAt(y)[:w]
			for x := range yr {
				Y := int32(yr[x])
				o := out[4*x : 4*x+4 : 4*x+4]
				o[0] = limit(Y + crR[cr[x]])
				o[1] = limit(Y + (cbG[cb[x]]+crG[cr[x]])>>scaleBits)
				o[2] = limit(Y + cbB[cb[x]])
				o[3] = 255
			}
		case csRGB:
			r := ups[0].rowAt(y)[:w]
			g := ups[1].rowAt(y)[:w]
			b := ups[2].rowAt(y)[:w]
			for x := range r {
				o := out[4*x : 4*x+4 : 4*x+4]
				o[0], o[1], o[2], o[3] = r[x], g[x], b[x], 255
			}
		case csCMYK, csYCCK:
			c0 := ups[0].rowAt(y)[:w]
			c1 := ups[1].rowAt(y)[:w]
			c2 := ups[2].rowAt(y)[:w]
			k := ups[3].rowAt(y)[:w]
			for x := range c0 {
				var cc, mm, yy uint8
				if cs == csYCCK {
					Y := int32(c0[x])
					cc = limit(255 - (Y + crR[c2[x]]))
					mm = limit(255 - (Y + (cbG[c1[x]]+crG[c2[x]])>>scaleBits))
					yy = limit(255 - (Y + cbB[c1[x]]))
				} else {
					cc, mm, yy = c0[x], c1[x], c2[x]
				}
				// Pillow reads libjpeg's CMYK inverted ("CMYK;I"), then
				// cmyk2rgb: 255-K - C·(255-K)/255 with MULDIV255 rounding;
				// 255-K is libjpeg's k.
				nk := int(k[x])
				o := out[4*x : 4*x+4 : 4*x+4]
				o[0] = uint8(nk - mulDiv255(255-int(cc), nk))
				o[1] = uint8(nk - mulDiv255(255-int(mm), nk))
				o[2] = uint8(nk - mulDiv255(255-int(yy), nk))
				o[3] = 255
			}
		}
	}
	return img, nil
}

// mulDiv255 is Pillow's MULDIV255: a*b/255 rounded.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}
