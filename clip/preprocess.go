package clip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register decoders for LoadImage
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/gocoop/gocoop/clip/jpeg"
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// CLIP's normalization constants (clip._transform).
var (
	ImageMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	ImageStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// ImageSize is the input resolution of CLIP ViT-B/16.
const ImageSize = 224

// ModeImage is a decoded image together with the Pillow mode ("1", "L",
// "LA", "P", "RGB" or "RGBA") that PIL.Image.open gives the same file.
// LoadImage returns one, so that Preprocess can follow Pillow's mode rules
// (NEAREST for "P" and "1", premultiplied alpha for "LA" and "RGBA") where
// Go's decoders lose the distinction.
type ModeImage struct {
	image.Image
	Mode string
}

// Preprocess is clip._transform(size) on a PIL image: the shorter side is
// resized to size with Pillow's BICUBIC filter (bit-exact integer
// arithmetic), the longer one to int(size*long/short); a size×size centre
// crop is taken (offsets rounded half to even, as Python's round); the crop
// is converted to RGB and normalized with CLIP's mean and std. The result is
// float32 CHW, shape [3, size, size].
//
// Mode rules (docs/clip.md §4.1): palette ("P") and bilevel ("1") images are
// resized with NEAREST; images with alpha are resized premultiplied and the
// alpha is then dropped (no compositing); grey images are resized as one
// channel and replicated. For an image.Image that is not a [ModeImage], the
// mode is inferred from its Go type: Gray → L, Paletted → P, NRGBA/RGBA
// with transparency → RGBA, anything else → RGB. The output is bit-exact
// with Pillow when the decoded pixels
// are (PNG, GIF, BMP, TIFF, lossless WebP); Go's JPEG decoder differs from
// libjpeg by a few levels.
func Preprocess(img image.Image, size int) ([]float32, error) {
	p, err := preprocessPix(img, size)
	if err != nil {
		return nil, err
	}
	return normalizeCHW(p), nil
}

// preprocessPix runs Resize + CenterCrop + convert("RGB") and returns the
// uint8 RGB crop.
func preprocessPix(img image.Image, size int) (*pixImage, error) {
	if size <= 0 {
		return nil, fmt.Errorf("clip: preprocess: size %d is not positive", size)
	}
	src, err := pixFromImage(img)
	if err != nil {
		return nil, err
	}
	w, h := resizedSize(src.w, src.h, size)
	if w != src.w || h != src.h {
		src = resize(src, w, h)
	}
	top := roundHalfEven(float64(h-size) / 2)
	left := roundHalfEven(float64(w-size) / 2)
	return src.crop(left, top, size, size).toRGB(), nil
}

// resizedSize is torchvision's Resize(int) output size: the shorter side
// becomes size, the other int(size*long/short).
func resizedSize(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size*h) / float64(w))
	}
	return int(float64(size*w) / float64(h)), size
}

func roundHalfEven(v float64) int { return int(math.RoundToEven(v)) }

// normalizeCHW is ToTensor + Normalize in float32, as torchvision computes
// it: x/255, then (x-mean)/std.
func normalizeCHW(p *pixImage) []float32 {
	n := p.w * p.h
	out := make([]float32, 3*n)
	for c := 0; c < 3; c++ {
		m, s := ImageMean[c], ImageStd[c]
		o := out[c*n : (c+1)*n]
		for i := range o {
			v := float32(p.pix[i*3+c]) / 255
			o[i] = (v - m) / s
		}
	}
	return out
}

// pixFromImage converts a decoded image to 8-bit channels in Pillow's mode.
// Without a ModeImage wrapper the mode is inferred: Gray → L, Paletted → P,
// NRGBA/RGBA with any alpha below 255 → RGBA, everything else → RGB via Go's
// colour conversion (16-bit images keep the high byte, as Pillow's
// RGB;16B/RGBA;16B unpackers do).
func pixFromImage(img image.Image) (*pixImage, error) {
	if img == nil {
		return nil, errors.New("clip: preprocess: nil image")
	}
	mode := ""
	if m, ok := img.(*ModeImage); ok {
		img, mode = m.Image, m.Mode
	} else if m, ok := img.(ModeImage); ok {
		img, mode = m.Image, m.Mode
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("clip: preprocess: empty image (%dx%d)", w, h)
	}
	if mode == "" {
		mode = inferMode(img)
	}
	var p *pixImage
	switch mode {
	case "1", "L":
		p = newPix(w, h, 1)
	case "LA":
		p = newPix(w, h, 2)
	case "P", "RGB":
		p = newPix(w, h, 3)
	case "RGBA":
		p = newPix(w, h, 4)
	default:
		return nil, fmt.Errorf("clip: preprocess: unsupported image mode %q", mode)
	}
	p.nearest = mode == "P" || mode == "1"
	if fastPix(img, p) {
		return p, nil
	}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if pl, ok := img.(*image.Paletted); ok {
				// Pillow's P → RGB uses the palette's colour whatever the
				// entry's alpha; NRGBA keeps it unpremultiplied.
				c = color.NRGBAModel.Convert(pl.Palette[pl.ColorIndexAt(x, y)]).(color.NRGBA)
			}
			switch p.ch {
			case 1:
				p.pix[i] = grayOf(img, x, y, c)
			case 2:
				p.pix[i], p.pix[i+1] = grayOf(img, x, y, c), c.A
			case 3:
				p.pix[i], p.pix[i+1], p.pix[i+2] = c.R, c.G, c.B
			case 4:
				p.pix[i], p.pix[i+1], p.pix[i+2], p.pix[i+3] = c.R, c.G, c.B, c.A
			}
			i += p.ch
		}
	}
	return p, nil
}

// fastPix fills p from the common concrete image types without per-pixel
// interface calls; it reports false for the others.
func fastPix(img image.Image, p *pixImage) bool {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		if p.ch != 3 {
			return false
		}
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				p.pix[i], p.pix[i+1], p.pix[i+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				i += 3
			}
		}
		return true
	case *image.Gray:
		if p.ch != 1 {
			return false
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			copy(p.pix[(y-b.Min.Y)*p.w:], m.Pix[m.PixOffset(b.Min.X, y):m.PixOffset(b.Max.X-1, y)+1])
		}
		return true
	case *image.NRGBA:
		if p.ch != 3 && p.ch != 4 {
			return false
		}
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < p.w; x++ {
				copy(p.pix[i:i+p.ch], row[x*4:x*4+p.ch])
				i += p.ch
			}
		}
		return true
	case *image.RGBA:
		if p.ch != 3 || !m.Opaque() {
			return false
		}
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < p.w; x++ {
				copy(p.pix[i:i+3], row[x*4:x*4+3])
				i += 3
			}
		}
		return true
	}
	return false
}

// grayOf returns the grey level of a pixel of a grey image (its R channel
// after NRGBA conversion, which for Gray, Gray16 and grey+tRNS PNGs is the
// stored level, high byte for 16 bits).
func grayOf(img image.Image, x, y int, c color.NRGBA) uint8 {
	switch g := img.(type) {
	case *image.Gray:
		return g.GrayAt(x, y).Y
	case *image.Gray16:
		return uint8(g.Gray16At(x, y).Y >> 8)
	}
	return c.R
}

// inferMode picks Pillow's mode for an image without a ModeImage wrapper.
func inferMode(img image.Image) string {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return "L"
	case *image.Paletted:
		return "P"
	case *image.NRGBA, *image.NRGBA64, *image.RGBA, *image.RGBA64, *image.NYCbCrA:
		if o, ok := m.(interface{ Opaque() bool }); ok && o.Opaque() {
			return "RGB"
		}
		return "RGBA"
	}
	return "RGB"
}

// MaxImagePixels is the largest image, in pixels (width × height), that
// LoadImage decodes: Pillow's Image.MAX_IMAGE_PIXELS (89,478,485, about
// 9459² — a quarter gigabyte of RGB). A file whose header claims more is
// refused with [ErrImageTooLarge] before any pixel is allocated, so that a
// corrupt or hostile header (a "decompression bomb": a few hundred bytes
// claiming 100000×100000) cannot exhaust memory. Pillow only warns between
// this limit and twice it and raises DecompressionBombError above; LoadImage
// refuses everything above the limit. Zero or less removes the check.
var MaxImagePixels = 89_478_485

// ErrImageTooLarge is wrapped by LoadImage's error for an image over
// [MaxImagePixels].
var ErrImageTooLarge = errors.New("image too large")

// LoadImage opens and decodes an image file (JPEG, PNG, GIF, BMP, TIFF or
// WebP; only the first frame of an animation). It returns a *[ModeImage]
// carrying the Pillow mode of the file, which Preprocess uses. EXIF
// orientation is not applied, as in PIL. The size in the file's header is
// checked against [MaxImagePixels] before decoding. Errors name the file
// and say whether it is missing, of an unknown format, too large, or
// truncated/corrupt.
func LoadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("clip: image %s: file does not exist: %w", path, err)
		}
		return nil, fmt.Errorf("clip: image %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	peek, _ := br.Peek(32)
	head := append([]byte(nil), peek...) // Decode reuses the buffer
	var img image.Image
	var cfg image.Config
	var format string
	if len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8 {
		// JPEG through clip/jpeg: the same pixels as Pillow/libjpeg-turbo.
		format = "jpeg"
		var data []byte
		if data, err = io.ReadAll(br); err == nil {
			if cfg, err = jpeg.DecodeConfig(bytes.NewReader(data)); err == nil {
				if err = checkPixels(path, format, cfg); err != nil {
					return nil, err
				}
				img, err = jpeg.DecodeBytes(data)
			}
		}
	} else if cfg, format, err = image.DecodeConfig(br); err == nil {
		if err = checkPixels(path, format, cfg); err != nil {
			return nil, err
		}
		if _, err = f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("clip: image %s: %w", path, err)
		}
		br.Reset(f)
		img, format, err = image.Decode(br)
	}
	if err != nil {
		switch {
		case errors.Is(err, image.ErrFormat):
			return nil, fmt.Errorf("clip: image %s: unknown image format (supported: JPEG, PNG, GIF, BMP, TIFF, WebP): %w", path, err)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return nil, fmt.Errorf("clip: image %s: truncated %s file: %w", path, format, err)
		default:
			return nil, fmt.Errorf("clip: image %s: truncated or corrupt %s file: %w", path, format, err)
		}
	}
	return &ModeImage{Image: img, Mode: fileMode(format, head, img)}, nil
}

// checkPixels refuses an image whose header size is over MaxImagePixels.
func checkPixels(path, format string, cfg image.Config) error {
	n := int64(cfg.Width) * int64(cfg.Height)
	if MaxImagePixels > 0 && n > int64(MaxImagePixels) {
		return fmt.Errorf("clip: image %s: the %s header says %dx%d = %d pixels, more than the limit of %d (clip.MaxImagePixels, Pillow's MAX_IMAGE_PIXELS); refused without decoding (a corrupt file or a decompression bomb): %w",
			path, format, cfg.Width, cfg.Height, n, MaxImagePixels, ErrImageTooLarge)
	}
	return nil
}

// fileMode is the mode PIL.Image.open reports for a decoded file. For PNG it
// comes from the header (colour type and bit depth), since Go decodes
// truecolour+tRNS to NRGBA where Pillow keeps "RGB", and 1-bit grey to Gray
// where Pillow uses "1".
func fileMode(format string, head []byte, img image.Image) string {
	if format == "png" && len(head) >= 26 && binary.BigEndian.Uint32(head[12:16]) == 0x49484452 {
		depth, ctype := head[24], head[25]
		switch ctype {
		case 0:
			if depth == 1 {
				return "1"
			}
			return "L" // 16-bit grey is "I" in Pillow; approximated by its high byte
		case 2:
			return "RGB"
		case 3:
			return "P"
		case 4:
			return "LA"
		case 6:
			return "RGBA"
		}
	}
	if format == "jpeg" {
		if _, ok := img.(*image.Gray); ok {
			return "L"
		}
		return "RGB" // YCbCr; Adobe CMYK/YCCK come converted by clip/jpeg as Pillow's convert("RGB") does (Pillow reports "CMYK", which Preprocess never needs: the pixels are already RGB)
	}
	return inferMode(img)
}

// ConvertRGB returns img converted to RGB as PIL's convert("RGB") does
// (palette looked up, alpha dropped, grey replicated), without resizing. It
// gives the Dassl/CoOp data path, which converts right after opening the
// file, before any transform.
func ConvertRGB(img image.Image) (image.Image, error) {
	p, err := pixFromImage(img)
	if err != nil {
		return nil, err
	}
	p = p.toRGB()
	out := image.NewRGBA(image.Rect(0, 0, p.w, p.h))
	for i := 0; i < p.w*p.h; i++ {
		copy(out.Pix[i*4:i*4+3], p.pix[i*3:i*3+3])
		out.Pix[i*4+3] = 255
	}
	return &ModeImage{Image: out, Mode: "RGB"}, nil
}
