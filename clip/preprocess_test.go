package clip

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type preprocessCase struct {
	Name    string `json:"name"`
	Input   string `json:"input"`
	Mode    string `json:"mode"`
	Size    int    `json:"size"`
	Resized [2]int `json:"resized"`
	Crop    string `json:"crop"`
	Floats  string `json:"floats"`
	// DasslCrop: the crop of the official CoOp/Dassl order (convert("RGB")
	// first, then Resize and CenterCrop), for modes the conversion changes.
	DasslCrop string `json:"dassl_crop"`
}

const fixtureDir = "testdata/preprocess"

func loadPreprocessCases(t *testing.T) []preprocessCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Cases []preprocessCase }
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m.Cases
}

// TestPreprocessPillowParity checks Resize+CenterCrop+convert("RGB") against
// Pillow 9.4 (fixtures from testdata/make_preprocess_fixtures.py): the uint8
// crop must be bit-exact; the normalized floats within 1e-6.
func TestPreprocessPillowParity(t *testing.T) {
	for _, c := range loadPreprocessCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			img, err := LoadImage(filepath.Join(fixtureDir, c.Input))
			if err != nil {
				t.Fatal(err)
			}
			if m := img.(*ModeImage).Mode; m != c.Mode {
				t.Fatalf("mode %q, Pillow has %q", m, c.Mode)
			}
			b := img.Bounds()
			if w, h := resizedSize(b.Dx(), b.Dy(), c.Size); w != c.Resized[0] || h != c.Resized[1] {
				t.Errorf("resized size %dx%d, want %dx%d", w, h, c.Resized[0], c.Resized[1])
			}
			got, err := preprocessPix(img, c.Size)
			if err != nil {
				t.Fatal(err)
			}
			comparePix(t, "CLIP order", got.pix, readRGBPNG(t, filepath.Join(fixtureDir, c.Crop)))
			if c.DasslCrop != "" {
				rgb, err := ConvertRGB(img)
				if err != nil {
					t.Fatal(err)
				}
				dassl, err := preprocessPix(rgb, c.Size)
				if err != nil {
					t.Fatal(err)
				}
				want := readRGBPNG(t, filepath.Join(fixtureDir, c.DasslCrop))
				comparePix(t, "Dassl order (convert first)", dassl.pix, want)
				if c.Mode != "L" && bytes.Equal(got.pix, want) { // grey resizes the same either way
					t.Errorf("mode %s: the two orders give the same crop; the case does not tell them apart", c.Mode)
				}
			}
			if c.Floats == "" {
				return
			}
			x, err := Preprocess(img, c.Size)
			if err != nil {
				t.Fatal(err)
			}
			ref, shape := readNpyFloat32(t, filepath.Join(fixtureDir, c.Floats))
			if len(shape) != 3 || shape[0] != 3 || shape[1] != c.Size || shape[2] != c.Size || len(x) != len(ref) {
				t.Fatalf("shape %v / len %d vs %d", shape, len(x), len(ref))
			}
			worst := 0.0
			for i := range ref {
				worst = math.Max(worst, math.Abs(float64(x[i])-float64(ref[i])))
			}
			if worst > 1e-6 {
				t.Errorf("normalized floats differ by %g", worst)
			}
		})
	}
}

// comparePix requires got to equal Pillow's RGB bytes want.
func comparePix(t *testing.T, what string, got, want []uint8) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: crop has %d bytes, want %d", what, len(got), len(want))
	}
	diff, maxd := 0, 0
	for i := range want {
		if d := absInt(int(got[i]) - int(want[i])); d != 0 {
			diff++
			maxd = max(maxd, d)
		}
	}
	if diff != 0 {
		t.Errorf("%s: %d of %d bytes differ from Pillow (max diff %d)", what, diff, len(want), maxd)
	}
}

func readRGBPNG(t *testing.T, path string) []uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// readNpyFloat32 reads a little-endian float32 C-order .npy file.
func readNpyFloat32(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 10 || string(data[:6]) != "\x93NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hlen, off int
	if data[6] == 1 {
		hlen, off = int(binary.LittleEndian.Uint16(data[8:10])), 10
	} else {
		hlen, off = int(binary.LittleEndian.Uint32(data[8:12])), 12
	}
	header := string(data[off : off+hlen])
	if !strings.Contains(header, "'descr': '<f4'") || !strings.Contains(header, "'fortran_order': False") {
		t.Fatalf("%s: unsupported header %s", path, header)
	}
	var shape []int
	for _, m := range regexp.MustCompile(`\d+`).FindAllString(regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)[1], -1) {
		n := 0
		for _, ch := range m {
			n = n*10 + int(ch-'0')
		}
		shape = append(shape, n)
	}
	body := data[off+hlen:]
	out := make([]float32, len(body)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[i*4:]))
	}
	return out, shape
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestResizedSizeAndCrop(t *testing.T) {
	for _, c := range []struct{ w, h, ww, wh int }{
		{640, 480, 298, 224}, {500, 333, 336, 224}, {225, 1000, 224, 995}, {224, 224, 224, 224},
	} {
		if w, h := resizedSize(c.w, c.h, 224); w != c.ww || h != c.wh {
			t.Errorf("%dx%d → %dx%d, want %dx%d", c.w, c.h, w, h, c.ww, c.wh)
		}
	}
	// Banker's rounding of the crop offset: excess 75 → 38, excess 77 → 38.
	if roundHalfEven(75.0/2) != 38 || roundHalfEven(77.0/2) != 38 || roundHalfEven(1.0/2) != 0 {
		t.Error("crop offsets must round half to even")
	}
}

func TestPreprocessShapeAndInference(t *testing.T) {
	// A plain *image.RGBA (opaque) is treated as RGB, a *image.Gray as L.
	rgba := image.NewRGBA(image.Rect(0, 0, 50, 40))
	gray := image.NewGray(image.Rect(0, 0, 50, 40))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
		rgba.Pix[i*4], rgba.Pix[i*4+1], rgba.Pix[i*4+2], rgba.Pix[i*4+3] = gray.Pix[i], gray.Pix[i], gray.Pix[i], 255
	}
	a, err := Preprocess(rgba, 32)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Preprocess(gray, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3*32*32 {
		t.Fatalf("len %d", len(a))
	}
	for i := range a {
		if a[i] != g[i] {
			t.Fatalf("grey-as-RGB and grey differ at %d", i)
		}
	}
	if _, err := Preprocess(image.NewRGBA(image.Rect(0, 0, 0, 5)), 32); err == nil {
		t.Error("no error for an empty image")
	}
	if _, err := Preprocess(rgba, 0); err == nil {
		t.Error("no error for size 0")
	}
}

func TestLoadImageErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.png")
	if _, err := LoadImage(missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	unknown := filepath.Join(dir, "x.png")
	os.WriteFile(unknown, []byte("this is not an image at all"), 0o644)
	if _, err := LoadImage(unknown); err == nil || !strings.Contains(err.Error(), unknown) || !strings.Contains(err.Error(), "unknown image format") {
		t.Errorf("unknown format: %v", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 64, 64)))
	trunc := filepath.Join(dir, "t.png")
	os.WriteFile(trunc, buf.Bytes()[:buf.Len()/2], 0o644)
	if _, err := LoadImage(trunc); err == nil || !strings.Contains(err.Error(), trunc) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
}

func TestPreprocessTrainDeterministic(t *testing.T) {
	img, err := LoadImage(filepath.Join(fixtureDir, "rgb_300x200.png"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := PreprocessTrain(img, 64, rand.New(rand.NewSource(7)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PreprocessTrain(img, 64, rand.New(rand.NewSource(7)))
	c, _ := PreprocessTrain(img, 64, rand.New(rand.NewSource(8)))
	if len(a) != 3*64*64 {
		t.Fatalf("len %d", len(a))
	}
	same, sameC := true, true
	for i := range a {
		same = same && a[i] == b[i]
		sameC = sameC && a[i] == c[i]
	}
	if !same {
		t.Error("same seed, different output")
	}
	if sameC {
		t.Error("different seeds, same output")
	}
	// Crop parameters stay inside the image and within scale/ratio.
	rng := rand.New(rand.NewSource(1))
	for range 1000 {
		top, left, h, w := randomResizedCropParams(300, 200, CropScale, CropRatio, rng)
		if top < 0 || left < 0 || h <= 0 || w <= 0 || top+h > 200 || left+w > 300 {
			t.Fatalf("crop %d,%d %dx%d outside 300x200", top, left, w, h)
		}
	}
	// Fallback (a source that always asks for the whole area at the extreme
	// ratio fails all 10 attempts on a very wide image): centre crop at 4/3.
	top, left, h, w := randomResizedCropParams(1000, 100, CropScale, CropRatio, constRand{0.9999999})
	if h != 100 || w != 133 || top != 0 || left != (1000-133)/2 {
		t.Errorf("fallback crop %d,%d %dx%d", top, left, w, h)
	}
}

type constRand struct{ v float64 }

func (c constRand) Float64() float64 { return c.v }
func (c constRand) Intn(n int) int   { return 0 }

func BenchmarkPreprocess(b *testing.B) {
	img := image.NewYCbCr(image.Rect(0, 0, 500, 375), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i)
	}
	for b.Loop() {
		if _, err := Preprocess(img, ImageSize); err != nil {
			b.Fatal(err)
		}
	}
}
