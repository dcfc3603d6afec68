package clip

// Pillow-exact resampling (Pillow 9.4 src/libImaging/Resample.c and the
// NEAREST path of Geometry.c), on 8-bit interleaved images. See
// docs/clip.md §4.2. Float expressions are written with explicit float64()
// conversions where C evaluates a product and a sum as two roundings, so the
// Go compiler cannot fuse them into one FMA.

import "math"

// pixImage is an 8-bit image with ch interleaved channels in Pillow's mode
// terms: 1 = L (or "1"), 2 = LA, 3 = RGB, 4 = RGBA.
type pixImage struct {
	w, h, ch int
	pix      []uint8 // row-major, stride w*ch
	// nearest marks modes "P" (stored here already mapped to RGB) and "1",
	// which Pillow resizes with NEAREST whatever filter is asked for.
	nearest bool
}

func newPix(w, h, ch int) *pixImage {
	return &pixImage{w: w, h: h, ch: ch, pix: make([]uint8, w*h*ch)}
}

const precisionBits = 32 - 8 - 2 // Resample.c PRECISION_BITS

// bicubicFilter is Resample.c's bicubic_filter (a = -0.5).
func bicubicFilter(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64(float64((a+2.0)*x)-(a+3.0))*x)*x) + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(float64(x-5)*x)+8)*x)-4) * a
	}
	return 0
}

// precomputeCoeffs is Resample.c's precompute_coeffs followed by
// normalize_coeffs_8bpc: for each output index, the first input index, the
// number of taps, and the fixed-point weights (ksize per output).
func precomputeCoeffs(inSize int, in0, in1 float32, outSize int) (ksize int, bounds []int, kk []int32) {
	const support0 = 2.0 // bicubic support
	scale := float64(in1-in0) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := support0 * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, outSize*2)
	kk = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64(in0) + float64(float64(float64(xx)+0.5)*scale)
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5) // C truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		for x := 0; x < xmax; x++ {
			w := bicubicFilter(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				k[x] /= ww
			}
		}
		for x := 0; x < ksize; x++ {
			v := 0.0
			if x < xmax {
				v = k[x]
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[xx*2] = xmin
		bounds[xx*2+1] = xmax
	}
	return ksize, bounds, kk
}

// clip8 is Resample.c's clip8: the accumulator shifted down, clamped.
func clip8(in int32) uint8 {
	v := in >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resampleBicubic is ImagingResample(im, xsize, ysize, BICUBIC, box=(0, 0,
// w, h)) for 8-bit modes: horizontal pass over the rows the vertical pass
// needs, stored as uint8, then the vertical pass. A pass is skipped when its
// size does not change.
func resampleBicubic(src *pixImage, xsize, ysize int) *pixImage {
	box := [4]float32{0, 0, float32(src.w), float32(src.h)}
	needH := xsize != src.w || box[0] != 0 || box[2] != float32(xsize)
	needV := ysize != src.h || box[1] != 0 || box[3] != float32(ysize)
	ksH, boundsH, kkH := precomputeCoeffs(src.w, box[0], box[2], xsize)
	ksV, boundsV, kkV := precomputeCoeffs(src.h, box[1], box[3], ysize)
	yFirst := boundsV[0]
	yLast := boundsV[ysize*2-2] + boundsV[ysize*2-1]
	ch := src.ch
	im := src
	var out *pixImage
	if needH {
		for i := 0; i < ysize; i++ {
			boundsV[i*2] -= yFirst
		}
		tmp := newPix(xsize, yLast-yFirst, ch)
		for yy := 0; yy < tmp.h; yy++ {
			row := src.pix[(yy+yFirst)*src.w*ch:]
			orow := tmp.pix[yy*xsize*ch:]
			for xx := 0; xx < xsize; xx++ {
				xmin, xmax := boundsH[xx*2], boundsH[xx*2+1]
				k := kkH[xx*ksH : xx*ksH+xmax]
				for c := 0; c < ch; c++ {
					ss := int32(1 << (precisionBits - 1))
					p := row[xmin*ch+c:]
					for x, kx := range k {
						ss += int32(p[x*ch]) * kx
					}
					orow[xx*ch+c] = clip8(ss)
				}
			}
		}
		im, out = tmp, tmp
	}
	if needV {
		out = newPix(im.w, ysize, ch)
		stride := im.w * ch
		for yy := 0; yy < ysize; yy++ {
			ymin, ymax := boundsV[yy*2], boundsV[yy*2+1]
			k := kkV[yy*ksV : yy*ksV+ymax]
			orow := out.pix[yy*stride : (yy+1)*stride]
			for i := range orow {
				ss := int32(1 << (precisionBits - 1))
				off := ymin*stride + i
				for y, ky := range k {
					ss += int32(im.pix[off+y*stride]) * ky
				}
				orow[i] = clip8(ss)
			}
		}
	}
	if out == nil {
		out = src.clone()
	}
	return out
}

// resampleNearest is Pillow's NEAREST resize (ImagingScaleAffine with
// a = ((box width)/xsize, 0, box x0, 0, (box height)/ysize, box y0)),
// including its accumulated floating-point source coordinates.
func resampleNearest(src *pixImage, xsize, ysize int) *pixImage {
	a0 := float64(float32(src.w)) / float64(xsize)
	a4 := float64(float32(src.h)) / float64(ysize)
	out := newPix(xsize, ysize, src.ch)
	xintab := make([]int, xsize)
	valid := make([]bool, xsize)
	xo := 0 + a0*0.5
	for x := 0; x < xsize; x++ {
		xin := coord(xo)
		if xin >= 0 && xin < src.w {
			xintab[x], valid[x] = xin, true
		}
		xo += a0
	}
	yo := 0 + a4*0.5
	ch := src.ch
	for y := 0; y < ysize; y++ {
		yi := coord(yo)
		if yi >= 0 && yi < src.h {
			in := src.pix[yi*src.w*ch:]
			o := out.pix[y*xsize*ch:]
			for x := 0; x < xsize; x++ {
				if valid[x] {
					copy(o[x*ch:x*ch+ch], in[xintab[x]*ch:])
				}
			}
		}
		yo += a4
	}
	return out
}

// coord is Geometry.c's COORD macro.
func coord(v float64) int {
	if v < 0 {
		return -1
	}
	return int(v)
}

// resize is PIL's Image.resize((xsize, ysize), BICUBIC) for the supported
// modes: "P" and "1" use NEAREST; LA and RGBA are resized premultiplied
// (convert to La/RGBa and back); same size returns a copy.
func resize(src *pixImage, xsize, ysize int) *pixImage {
	if xsize == src.w && ysize == src.h {
		return src.clone()
	}
	if src.nearest {
		out := resampleNearest(src, xsize, ysize)
		out.nearest = true
		return out
	}
	if src.ch == 2 || src.ch == 4 {
		return unpremultiply(resampleBicubic(premultiply(src), xsize, ysize))
	}
	return resampleBicubic(src, xsize, ysize)
}

func (p *pixImage) clone() *pixImage {
	q := *p
	q.pix = append([]uint8(nil), p.pix...)
	return &q
}

// premultiply is Convert.c's rgbA2rgba / lA2la: colour × alpha / 255 with
// MULDIV255 rounding.
func premultiply(src *pixImage) *pixImage {
	out := src.clone()
	ch := src.ch
	for i := 0; i < len(out.pix); i += ch {
		alpha := uint32(out.pix[i+ch-1])
		for c := 0; c < ch-1; c++ {
			tmp := uint32(out.pix[i+c])*alpha + 128
			out.pix[i+c] = uint8(((tmp >> 8) + tmp) >> 8)
		}
	}
	return out
}

// unpremultiply is Convert.c's rgba2rgbA / la2lA.
func unpremultiply(p *pixImage) *pixImage {
	ch := p.ch
	for i := 0; i < len(p.pix); i += ch {
		alpha := uint32(p.pix[i+ch-1])
		if alpha == 255 || alpha == 0 {
			continue
		}
		for c := 0; c < ch-1; c++ {
			v := (255 * uint32(p.pix[i+c])) / alpha
			if v > 255 {
				v = 255
			}
			p.pix[i+c] = uint8(v)
		}
	}
	return p
}

// crop returns the region [left, left+w) × [top, top+h); the region must lie
// inside the image.
func (p *pixImage) crop(left, top, w, h int) *pixImage {
	out := newPix(w, h, p.ch)
	out.nearest = p.nearest
	for y := 0; y < h; y++ {
		copy(out.pix[y*w*p.ch:(y+1)*w*p.ch], p.pix[((top+y)*p.w+left)*p.ch:])
	}
	return out
}

// flipLR mirrors the image horizontally in place.
func (p *pixImage) flipLR() {
	ch := p.ch
	for y := 0; y < p.h; y++ {
		row := p.pix[y*p.w*ch : (y+1)*p.w*ch]
		for l, r := 0, p.w-1; l < r; l, r = l+1, r-1 {
			for c := 0; c < ch; c++ {
				row[l*ch+c], row[r*ch+c] = row[r*ch+c], row[l*ch+c]
			}
		}
	}
}

// toRGB is PIL's convert("RGB") for the stored modes: L replicated, alpha
// dropped.
func (p *pixImage) toRGB() *pixImage {
	if p.ch == 3 {
		return p
	}
	out := newPix(p.w, p.h, 3)
	n := p.w * p.h
	for i := 0; i < n; i++ {
		s := p.pix[i*p.ch:]
		o := out.pix[i*3 : i*3+3]
		if p.ch <= 2 {
			o[0], o[1], o[2] = s[0], s[0], s[0]
		} else {
			o[0], o[1], o[2] = s[0], s[1], s[2]
		}
	}
	return out
}
