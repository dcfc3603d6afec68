package ckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
)

// The seed corpora run as ordinary tests; fuzz with e.g.
//
//	go test -fuzz=FuzzSafetensors -fuzztime=45s ./clip/ckpt

func FuzzSafetensors(f *testing.F) {
	for _, p := range []string{dtypesST} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	tensors := map[string]*Tensor{
		"a":                        {Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		"text_model.x.q_proj.bias": {Shape: []int{}, Data: []float32{5}},
	}
	for _, names := range [][]string{{"a"}, {"a", "text_model.x.q_proj.bias"}} {
		h, err := safetensorsHeader(names, tensors, map[string]string{"k": "v"})
		if err != nil {
			f.Fatal(err)
		}
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		b = append(b, h...)
		for _, n := range names {
			for _, v := range tensors[n].Data {
				b = binary.LittleEndian.AppendUint32(b, uint32(v))
			}
		}
		f.Add(b)
	}
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"x\":{\"dtype\":\"F16\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, _, err := loadSafetensors("fuzz.safetensors", newBytesSource(data), false)
		if err != nil {
			return
		}
		checkOutput(t, sd, len(data))
	})
}

// checkOutput checks shapes against data and that the output is bounded by
// the input size (no tensor materialised from nothing).
func checkOutput(t *testing.T, sd *StateDict, inputLen int) {
	total := 0
	for _, k := range sd.Keys() {
		tt := sd.Get(k)
		if tt.Numel() != len(tt.Data) {
			t.Fatalf("%s: shape %v, %d values", k, tt.Shape, len(tt.Data))
		}
		total += len(tt.Data)
	}
	if total > 4*inputLen+1<<16 {
		t.Fatalf("%d values from %d input bytes", total, inputLen)
	}
}

// zipEntry returns one entry of a zip file.
func zipEntry(f *testing.F, path, suffix string) []byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		f.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, suffix) {
			rc, err := e.Open()
			if err != nil {
				f.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				f.Fatal(err)
			}
			return b
		}
	}
	f.Fatalf("%s: no entry %s", path, suffix)
	return nil
}

func FuzzUnpickle(f *testing.F) {
	for _, p := range []string{dtypesPT, wrappedPT, tinyScript} {
		f.Add(zipEntry(f, p, "/data.pkl"))
	}
	f.Add(zipEntry(f, tinyScript, "/constants.pkl"))
	for _, h := range pythonPickles {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := unpickle(data, torchPersistentLoad)
		if err != nil {
			return
		}
		collectTensors(root)
	})
}

// FuzzLoad feeds whole files (small torch zips) through format detection.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{dtypesPT, wrappedPT, dtypesST} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, _, err := loadSource("fuzz.pt", newBytesSource(data), LoadOptions{})
		if err != nil {
			return
		}
		checkOutput(t, sd, len(data))
	})
}

// FuzzTorchZip fuzzes data.pkl inside a valid zip that holds the storages of
// tiny_dtypes.pt, so mutated pickles reach tensor materialisation (a
// mutated file would mostly fail the zip's CRC check instead).
func FuzzTorchZip(f *testing.F) {
	zr, err := zip.OpenReader(dtypesPT)
	if err != nil {
		f.Fatal(err)
	}
	type entry struct {
		name string
		data []byte
	}
	var entries []entry
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "/data.pkl") {
			continue
		}
		rc, _ := e.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		entries = append(entries, entry{e.Name, b})
	}
	zr.Close()
	f.Add(zipEntry(f, dtypesPT, "/data.pkl"))
	f.Add(zipEntry(f, wrappedPT, "/data.pkl"))
	f.Fuzz(func(t *testing.T, pkl []byte) {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for _, e := range append([]entry{{"tiny_dtypes/data.pkl", pkl}}, entries...) {
			fw, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(e.data)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sd, _, err := loadSource("fuzz.pt", newBytesSource(buf.Bytes()), LoadOptions{})
		if err != nil {
			return
		}
		checkOutput(t, sd, buf.Len())
	})
}
