package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/clip"
)

// threadsConfig is a CLIP wide and deep enough that the parallel ops of
// both towers split into uneven chunks at 3 and 7 threads (tinyConfig's
// are too small to be split at all).
var threadsConfig = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 4, VisionWidth: 256, VisionHeads: 4,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 128, TransformerHeads: 2, TransformerLayers: 2,
}

// TestOutputsIndependentOfThreads runs encode and inspect at --threads 1,
// 3 and 7 and compares their files byte for byte: results never depend on
// the number of cores. (With chunk tails computed by a scalar exp that
// differs from the vector one, both commands' outputs differ.)
func TestOutputsIndependentOfThreads(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "threads.safetensors")
	if err := writeHashCheckpoint(weights, threadsConfig); err != nil {
		t.Fatal(err)
	}
	encode := []string{"encode", "--weights", weights, "--batch", "32"}
	var images []string
	for i := range 256 {
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		writePNG(t, p, 40+i%17, 37+2*(i%13), uint8(7*i))
		images = append(images, p)
		encode = append(encode, "--image", p)
	}
	for i := range 24 {
		encode = append(encode, "--text", fmt.Sprintf("a photo of the %d-th thing, a rather long description.", i))
	}
	var classes []string
	for i := range 200 {
		classes = append(classes, fmt.Sprintf("class_%d", i))
	}
	inspect := []string{"inspect", "--weights", weights, "--image", images[3], "--classes", strings.Join(classes, ","), "--label", "5"}

	outputs := func(threads string) map[string][]byte {
		out := t.TempDir()
		mustRun(t, append(encode, "--out", filepath.Join(out, "emb.safetensors"), "--threads", threads)...)
		mustRun(t, append(inspect, "--out", out, "--threads", threads)...)
		files := map[string][]byte{}
		for _, name := range []string{"emb.safetensors", "inspect.csv"} {
			b, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		return files
	}
	want := outputs("1")
	for _, threads := range []string{"3", "7"} {
		for name, got := range outputs(threads) {
			if !bytes.Equal(got, want[name]) {
				t.Errorf("%s at --threads %s differs from --threads 1 %s", name, threads, firstDifference(got, want[name]))
			}
		}
	}
}

// firstDifference says where a first differs from b.
func firstDifference(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at byte %d of %d", i, len(b))
		}
	}
	return fmt.Sprintf("in length (%d bytes, want %d)", len(a), len(b))
}
