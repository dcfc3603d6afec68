package jpeg

import (
	"bytes"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecode decodes testdata/bench420.jpg (400×300, 4:2:0, Pillow
// quality 90) with this package and with the standard library's
// image/jpeg (which gives YCbCr, not RGB: its colour conversion is not
// timed). See the package documentation for figures and Pillow's time.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "bench420.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gocoop", func(b *testing.B) {
		b.SetBytes(400 * 300 * 3)
		for i := 0; i < b.N; i++ {
			if _, err := DecodeBytes(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(400 * 300 * 3)
		for i := 0; i < b.N; i++ {
			if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
