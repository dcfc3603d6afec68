package jpeg

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that no input panics or hangs, and that DecodeConfig
// agrees with Decode on the size. Seeded with every fixture.
//
//	go test -fuzz FuzzDecode -fuzztime 60s ./clip/jpeg
func FuzzDecode(f *testing.F) {
	for _, fx := range loadManifest(f) {
		data, err := os.ReadFile(filepath.Join("testdata", fx.File))
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 40000 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, cerr := DecodeConfig(bytes.NewReader(data))
		if cerr == nil && cfg.Width*cfg.Height > 1<<20 {
			return // keep the fuzzer's memory bounded
		}
		img, err := DecodeBytes(data)
		if err != nil {
			return
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded, DecodeConfig failed: %v", cerr)
		}
		if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
			t.Fatalf("Decode %v, DecodeConfig %dx%d", b, cfg.Width, cfg.Height)
		}
	})
}
