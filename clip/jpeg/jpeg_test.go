package jpeg

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is one entry of testdata/manifest.json, written by
// bench/reference/make_jpeg_fixtures.py from Pillow 9.4's decoding.
type fixture struct {
	File     string `json:"file"`
	Ref      string `json:"ref"`
	Encoder  string `json:"encoder"`
	Settings string `json:"settings"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Mode     string `json:"mode"`
	Error    string `json:"error"`
}

func loadManifest(t testing.TB) []fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "manifest.json"))
	if err != nil {
		t.Fatalf("%v (run bench/reference/make_jpeg_fixtures.py)", err)
	}
	var m struct {
		Fixtures []fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Fixtures
}

// rgbBytes flattens img to packed RGB (or grey) bytes.
func rgbBytes(img image.Image) (pix []byte, channels int) {
	switch m := img.(type) {
	case *image.Gray:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		for y := 0; y < h; y++ {
			pix = append(pix, m.Pix[y*m.Stride:][:w]...)
		}
		return pix, 1
	case *image.RGBA:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:][:4*w]
			for x := 0; x < w; x++ {
				pix = append(pix, row[4*x:4*x+3]...)
			}
		}
		return pix, 3
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			pix = append(pix, byte(r>>8), byte(g>>8), byte(bb>>8))
		}
	}
	return pix, 3
}

// TestPillowFixtures decodes every fixture and compares it bit for bit
// with Pillow's Image.open(p).convert("RGB") (or "L").
func TestPillowFixtures(t *testing.T) {
	exact, unsupported := map[string]int{}, 0
	for _, f := range loadManifest(t) {
		t.Run(strings.TrimSuffix(f.File, ".jpg"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", f.File))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(bytes.NewReader(data)) // the io.Reader entry, over DecodeBytes
			if f.Error != "" {
				if err == nil {
					t.Fatalf("Pillow fails (%s) but Decode succeeded", f.Error)
				}
				return
			}
			if strings.Contains(f.Settings, "-arithmetic") {
				var u UnsupportedError
				if !errors.As(err, &u) {
					t.Fatalf("arithmetic coding: want an UnsupportedError, got %v", err)
				}
				unsupported++
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", f.Encoder, f.Settings, err)
			}
			rf, err := os.Open(filepath.Join("testdata", f.Ref))
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			ref, err := png.Decode(rf)
			if err != nil {
				t.Fatal(err)
			}
			got, gc := rgbBytes(img)
			want, wc := rgbBytes(ref)
			if gc != wc || img.Bounds() != ref.Bounds() {
				t.Fatalf("%s %s: got %v with %d channels, Pillow %v with %d", f.Encoder, f.Settings, img.Bounds(), gc, ref.Bounds(), wc)
			}
			diff, maxd, first := 0, 0, -1
			for i := range got {
				d := int(got[i]) - int(want[i])
				if d != 0 {
					if first < 0 {
						first = i
					}
					diff++
					maxd = max(maxd, d, -d)
				}
			}
			if diff > 0 {
				px := first / gc
				t.Fatalf("%s %s (%dx%d %s): %d of %d values differ from Pillow, max %d, first at (%d,%d)",
					f.Encoder, f.Settings, f.Width, f.Height, f.Mode, diff, len(got), maxd, px%f.Width, px/f.Width)
			}
			exact[f.Encoder]++
		})
	}
	t.Logf("bit-exact per encoder: %v; arithmetic (unsupported): %d", exact, unsupported)
}

// TestDecodeConfig checks sizes and colour models against the manifest.
func TestDecodeConfig(t *testing.T) {
	for _, f := range loadManifest(t) {
		if f.Error != "" || strings.Contains(f.Settings, "-arithmetic") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", f.File))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		if cfg.Width != f.Width || cfg.Height != f.Height {
			t.Errorf("%s: DecodeConfig %dx%d, Pillow %dx%d", f.File, cfg.Width, cfg.Height, f.Width, f.Height)
		}
	}
}

// TestErrors checks that bad input gives clear errors, not panics.
func TestErrors(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "pil_q75_420.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "missing SOI"},
		{"png", []byte("\x89PNG\r\n\x1a\n"), "missing SOI"},
		{"header only", good[:200], "truncated"},
		{"cut in data", good[:len(good)/2], "truncated"},
		{"no frame", []byte{0xFF, 0xD8, 0xFF, 0xD9}, "before the frame header"},
	} {
		_, err := DecodeBytes(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
