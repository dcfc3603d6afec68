package ckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Fixtures written by bench/reference/make_checkpoints.py.
const (
	tinyExpected   = "testdata/tiny_expected.safetensors"
	tinyOpenAI     = "testdata/tiny_openai.safetensors"
	tinyHF         = "testdata/tiny_hf.safetensors"
	tinyStateDict  = "testdata/tiny_state_dict.pt"
	tinyScript     = "testdata/tiny_torchscript.pt"
	dtypesPT       = "testdata/tiny_dtypes.pt"
	dtypesST       = "testdata/tiny_dtypes.safetensors"
	dtypesExpected = "testdata/tiny_dtypes_expected.safetensors"
	wrappedPT      = "testdata/tiny_wrapped.pt"
)

func mustLoad(t *testing.T, path string) *StateDict {
	t.Helper()
	sd, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// sameBits reports bit equality, treating any two NaNs as equal.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// compareStateDicts checks keys (in order when ordered), shapes and values.
func compareStateDicts(t *testing.T, got, want *StateDict, ordered bool) {
	t.Helper()
	gk, wk := got.Keys(), want.Keys()
	if ordered && !slices.Equal(gk, wk) {
		t.Fatalf("keys in order:\n got %v\nwant %v", gk, wk)
	}
	sg, sw := slices.Clone(gk), slices.Clone(wk)
	slices.Sort(sg)
	slices.Sort(sw)
	if !slices.Equal(sg, sw) {
		t.Fatalf("key sets differ:\n got %v\nwant %v", sg, sw)
	}
	for _, k := range wk {
		g, w := got.Get(k), want.Get(k)
		if !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("%s: shape %v, want %v", k, g.Shape, w.Shape)
			continue
		}
		if len(g.Data) != len(w.Data) {
			t.Errorf("%s: %d values, want %d", k, len(g.Data), len(w.Data))
			continue
		}
		for i := range w.Data {
			if !sameBits(g.Data[i], w.Data[i]) {
				t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", k, i, g.Data[i], math.Float32bits(g.Data[i]), w.Data[i], math.Float32bits(w.Data[i]))
				break
			}
		}
	}
}

func TestLoadFormats(t *testing.T) {
	want := mustLoad(t, tinyExpected)
	// Tiny CLIP: 6 text-side + 8 vision-side tensors + 12 per block × 4 blocks.
	if want.Len() != 62 {
		t.Fatalf("expected fixture has %d tensors, want 62", want.Len())
	}
	for _, tc := range []struct {
		path    string
		format  Format
		ordered bool
	}{
		{tinyOpenAI, FormatSafetensors, true},
		{tinyHF, FormatHFSafetensors, false},
		{tinyStateDict, FormatTorchZip, true},
		{tinyScript, FormatTorchScript, true},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			got, format, err := Load(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format {
				t.Errorf("format %v, want %v", format, tc.format)
			}
			for _, b := range droppedBuffers {
				if got.Get(b) != nil {
					t.Errorf("buffer %s not dropped", b)
				}
			}
			compareStateDicts(t, got, want, tc.ordered)
		})
	}
}

func TestLoadShapes(t *testing.T) {
	sd := mustLoad(t, tinyScript)
	for k, want := range map[string][]int{
		"logit_scale":                 {},
		"text_projection":             {32, 32},
		"visual.proj":                 {32, 32},
		"visual.conv1.weight":         {32, 3, 8, 8},
		"visual.class_embedding":      {32},
		"visual.positional_embedding": {17, 32},
		"visual.transformer.resblocks.1.attn.in_proj_weight": {96, 32},
		"transformer.resblocks.0.mlp.c_fc.weight":            {128, 32},
		"token_embedding.weight":                             {64, 32},
	} {
		if got := sd.Get(k); got == nil || !slices.Equal(got.Shape, want) {
			t.Errorf("%s: %v, want shape %v", k, got, want)
		}
	}
}

// TestLoadReaderSource loads through the io.ReaderAt path used where mmap
// is unavailable.
func TestLoadReaderSource(t *testing.T) {
	for _, path := range []string{tinyOpenAI, tinyHF, tinyStateDict, tinyScript, dtypesPT} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		got, _, err := loadSource(path, &readerSource{r: f, size: st.Size()}, LoadOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := finishCheck(got); err != nil {
			t.Fatal(err)
		}
		compareStateDicts(t, got, mustLoad(t, path), true)
	}
}

func finishCheck(sd *StateDict) error {
	if sd.Len() == 0 {
		return errors.New("empty")
	}
	return nil
}

func TestLoadDtypes(t *testing.T) {
	want := mustLoad(t, dtypesExpected)
	for _, path := range []string{dtypesPT, dtypesST} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			compareStateDicts(t, mustLoad(t, path), want, true)
		})
	}
	sd := mustLoad(t, dtypesPT)
	if got := sd.Get("slice"); !slices.Equal(got.Shape, []int{3, 3}) || got.Data[0] != 0.5 {
		t.Errorf("slice = %v", got)
	}
	f16 := sd.Get("f16").Data
	if !math.IsInf(float64(f16[8]), 1) || !math.IsInf(float64(f16[9]), -1) || f16[10] == f16[10] || math.Float32bits(f16[1]) != 0x80000000 {
		t.Errorf("f16 specials = %v", f16)
	}
	if got := sd.Get("i64").Data[2]; got != float32(1<<40+1) {
		t.Errorf("i64[2] = %v", got)
	}
}

func TestLoadWrapped(t *testing.T) {
	sd, format, err := Load(wrappedPT)
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatTorchZip {
		t.Errorf("format %v", format)
	}
	if want := []string{"visual.proj", "logit_scale", "ln_final.weight"}; !slices.Equal(sd.Keys(), want) {
		t.Errorf("keys %v, want %v", sd.Keys(), want)
	}
}

// halfRef converts binary16 with float64 arithmetic.
func halfRef(h uint16) float32 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return float32(sign * math.Ldexp(mant, -24))
	case 0x1f:
		if mant == 0 {
			return float32(math.Inf(int(sign)))
		}
		return float32(math.NaN())
	}
	return float32(sign * math.Ldexp(1+mant/1024, exp-15))
}

func TestHalfToFloat32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got, want := halfTable()[h], halfRef(uint16(h))
		if !sameBits(got, want) {
			t.Fatalf("half %#04x: %v, want %v", h, got, want)
		}
		// NaNs keep their payload and come out quiet, as VCVTPH2PS makes them.
		if got != got && (math.Float32bits(got)>>13)&0x3ff != uint32(h&0x3ff)|0x200 {
			t.Fatalf("half %#04x: NaN payload lost: %#08x", h, math.Float32bits(got))
		}
	}
}

func TestDecodeStrided(t *testing.T) {
	// storage 0..23 as F32; view offset 1, shape [2,3], stride [1,4]
	src := make([]byte, 24*4)
	for i := range 24 {
		binary.LittleEndian.PutUint32(src[4*i:], math.Float32bits(float32(i)))
	}
	dst := make([]float32, 6)
	decodeStrided(dst, src, dtF32, 1, []int{2, 3}, []int{1, 4})
	if want := []float32{1, 5, 9, 2, 6, 10}; !slices.Equal(dst, want) {
		t.Errorf("got %v, want %v", dst, want)
	}
}

// TestGatherHalf: binary16 bits gathered from a strided view and from a
// contiguous one, in the order decodeStrided gives.
func TestGatherHalf(t *testing.T) {
	src := make([]byte, 24*2) // storage 0..23 as F16 bits
	for i := range 24 {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	for _, c := range []struct {
		offset        int
		shape, stride []int
		want          []uint16
	}{
		{1, []int{2, 3}, []int{1, 4}, []uint16{1, 5, 9, 2, 6, 10}},
		{2, []int{2, 3}, []int{3, 1}, []uint16{2, 3, 4, 5, 6, 7}},
	} {
		dst := make([]uint16, 6)
		gatherHalf(dst, src, c.offset, c.shape, c.stride)
		if !slices.Equal(dst, c.want) {
			t.Errorf("offset %d stride %v: got %v, want %v", c.offset, c.stride, dst, c.want)
		}
	}
}

func TestSaveSafetensorsRoundTrip(t *testing.T) {
	want := mustLoad(t, tinyExpected)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.safetensors")
	meta := map[string]string{"format": "pt", "note": "gocoop"}
	if err := SaveSafetensors(path, want.Keys(), want.Map(), meta); err != nil {
		t.Fatal(err)
	}
	got, format, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatSafetensors {
		t.Errorf("format %v", format)
	}
	compareStateDicts(t, got, want, true)

	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("header end %d not 8-byte aligned", 8+n)
	}
	src := newBytesSource(raw)
	_, gotMeta, _, err := parseSafetensorsHeader(path, src)
	if err != nil || gotMeta["note"] != "gocoop" || len(gotMeta) != 2 {
		t.Errorf("metadata %v, %v", gotMeta, err)
	}

	// nil names: every tensor, sorted.
	if err := SaveSafetensors(path, nil, map[string]*Tensor{"b": {Shape: []int{}, Data: []float32{2}}, "a": {Shape: []int{0, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, path); !slices.Equal(got.Keys(), []string{"a", "b"}) || got.Get("b").Data[0] != 2 {
		t.Errorf("nil names: %v", got.Keys())
	}
}

func TestSaveSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.safetensors")
	good := map[string]*Tensor{"x": {Shape: []int{2}, Data: []float32{1, 2}}}
	if err := SaveSafetensors(path, nil, good, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for name, tc := range map[string]struct {
		names   []string
		tensors map[string]*Tensor
		want    string
	}{
		"missing":  {[]string{"x", "y"}, good, `"y": not in the tensor map`},
		"twice":    {[]string{"x", "x"}, good, `"x": named twice`},
		"shape":    {nil, map[string]*Tensor{"z": {Shape: []int{3}, Data: []float32{1}}}, `"z": shape [3] has 3 elements, data 1`},
		"reserved": {nil, map[string]*Tensor{"__metadata__": {Shape: []int{}, Data: []float32{1}}}, "reserved"},
	} {
		err := SaveSafetensors(path, tc.names, tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	if err := SaveSafetensors(filepath.Join(dir, "no/such/dir/x.safetensors"), nil, good, nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed saves changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// writeTemp writes b to a file in a test directory.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadErr loads b from a file and returns the error, failing if none.
func loadErr(t *testing.T, name string, b []byte) (string, error) {
	t.Helper()
	path := writeTemp(t, name, b)
	_, _, err := Load(path)
	if err == nil {
		t.Fatalf("%s: loaded without error", name)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("%s: error %q does not name the path", name, err)
	}
	return path, err
}

func TestLoadTruncated(t *testing.T) {
	for _, fixture := range []string{tinyOpenAI, tinyHF, tinyStateDict, tinyScript, dtypesPT} {
		b, err := os.ReadFile(fixture)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 4, 8, 9, 20, 100, len(b) / 3, len(b) / 2, len(b) - 100, len(b) - 22, len(b) - 1} {
			loadErr(t, fmt.Sprintf("%s.%d", filepath.Base(fixture), n), b[:n])
		}
	}
	b, _ := os.ReadFile(tinyOpenAI)
	_, err := loadErr(t, "cut.safetensors", b[:len(b)-1])
	if !strings.Contains(err.Error(), `tensor "ln_final.bias": data_offsets`) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated data: %v", err)
	}
	_, err = loadErr(t, "cut.safetensors", b[:40])
	if !strings.Contains(err.Error(), "header length") || !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated header: %v", err)
	}
}

func TestLoadUnknown(t *testing.T) {
	for name, b := range map[string][]byte{
		"text":  []byte("hello, this is not a checkpoint\n"),
		"empty": nil,
		"zip":   emptyZip(t),
	} {
		_, err := loadErr(t, name, b)
		if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "not a CLIP checkpoint") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := loadErr(t, "x.pt", []byte("hello, world, a longer text"))
	if !strings.Contains(err.Error(), "first bytes 68 65 6c 6c 6f") {
		t.Errorf("first bytes not shown: %v", err)
	}
	legacy := []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e}
	if _, err := loadErr(t, "legacy.pt", legacy); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("legacy: %v", err)
	}
	if _, _, err := Load("testdata/does-not-exist.pt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func emptyZip(t *testing.T) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create("x/readme.txt")
	f.Write([]byte("hi"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// patchHeader replaces the first occurrence of old in the header of a
// safetensors file (same length, so offsets stay valid).
func patchHeader(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("patch must keep the length")
	}
	n := binary.LittleEndian.Uint64(b)
	i := bytes.Index(b[8:8+n], []byte(old))
	if i < 0 {
		t.Fatalf("%q not in header", old)
	}
	out := slices.Clone(b)
	copy(out[8+i:], new)
	return out
}

func TestLoadSafetensorsCorrupt(t *testing.T) {
	b, _ := os.ReadFile(tinyOpenAI)
	first := `"positional_embedding":{"dtype":"F32"`
	for _, tc := range []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"dtype", patchHeader(t, b, first, strings.Replace(first, "F32", "Q32", 1)), ErrUnsupported, `dtype "Q32" of tensor "positional_embedding"`},
		{"size", patchHeader(t, b, first, strings.Replace(first, "F32", "F16", 1)), ErrCorrupt, `tensor "positional_embedding": shape [16 32] of F16 needs 1024 bytes, data_offsets give 2048`},
		{"offsets", patchHeader(t, b, `"data_offsets":[0,`, `"data_offsets":[9,`), ErrCorrupt, `tensor "positional_embedding": shape`},
		{"overlap", patchHeader(t, b, `"data_offsets":[2048,`, `"data_offsets":[2047,`), ErrCorrupt, ""},
		{"json", patchHeader(t, b, `"__metadata__":{`, `"__metadata__":[`), ErrCorrupt, "safetensors header: __metadata__: invalid character"},
		{"json2", patchHeader(t, b, `"dtype":"F32"`, `"dtype":"F32}`), ErrCorrupt, "safetensors header: tensor \"positional_embedding\": invalid character"},
		{"negative", patchHeader(t, b, `"shape":[16,`, `"shape":[-6,`), ErrCorrupt, "invalid dimension -6"},
		{"length", append(binary.LittleEndian.AppendUint64(nil, 1<<40), b[8:]...), ErrCorrupt, "header length 1099511627776 larger than the file"},
		{"huge-shape", rawSafetensors(`{"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4]}}`, 4), ErrCorrupt, `tensor "w": shape [1048576 1048576] of F32 needs 4398046511104 bytes, data_offsets give 4`},
		{"overflow-shape", rawSafetensors(`{"w":{"dtype":"BF16","shape":[1099511627776,1099511627776,1099511627776],"data_offsets":[0,2]}}`, 2), ErrCorrupt, `tensor "w": `},
		{"zero-dim", rawSafetensors(`{"w":{"dtype":"F32","shape":[0,1099511627776],"data_offsets":[0,4]}}`, 4), ErrCorrupt, `tensor "w": `}, // 386: dimension too large

		{"offsets-len", rawSafetensors(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), ErrCorrupt, `tensor "w": data_offsets has 1 values`},
		{"duplicate", rawSafetensors(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), ErrCorrupt, `duplicate key "w"`},
		{"trailing", rawSafetensors(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}x`, 4), ErrCorrupt, `trailing bytes`},
	} {
		_, err := loadErr(t, tc.name+".safetensors", tc.data)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.is, tc.want)
		}
	}
}

// rawSafetensors builds a safetensors file from a header and n zero bytes.
func rawSafetensors(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, n)...)
}

// rewriteZip copies a zip, letting edit drop (return nil) or replace entries.
func rewriteZip(t *testing.T, path string, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var data bytes.Buffer
		data.ReadFrom(rc)
		rc.Close()
		out := edit(f.Name, data.Bytes())
		if out == nil {
			continue
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(out)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadZipCorrupt(t *testing.T) {
	// Unchanged rewrite loads (sanity check of the helper, unaligned entries).
	same := rewriteZip(t, tinyStateDict, func(_ string, d []byte) []byte { return d })
	if _, _, err := Load(writeTemp(t, "same.pt", same)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, fixture string
		edit          func(string, []byte) []byte
		want          string
	}{
		{"missing", tinyStateDict, func(n string, d []byte) []byte {
			if n == "tiny_state_dict/data/5" {
				return nil
			}
			return d
		}, `zip entry "tiny_state_dict/data/5" missing (storage key "5")`},
		{"short", tinyStateDict, func(n string, d []byte) []byte {
			if n == "tiny_state_dict/data/1" {
				return d[:len(d)-2]
			}
			return d
		}, `tensor "text_projection": zip entry "tiny_state_dict/data/1" holds 2046 bytes, storage of 1024 HalfStorage elements needs 2048`},
		// constants/0 exists: storages must be found by full path.
		{"basename", tinyScript, func(n string, d []byte) []byte {
			if n == "tiny_torchscript/data/0" {
				return nil
			}
			return d
		}, `tensor "positional_embedding": zip entry "tiny_torchscript/data/0" missing`},
		{"nopkl", tinyStateDict, func(n string, d []byte) []byte {
			if strings.HasSuffix(n, "data.pkl") {
				return nil
			}
			return d
		}, "without <dir>/data.pkl"},
		{"pickle", tinyStateDict, func(n string, d []byte) []byte {
			if strings.HasSuffix(n, "data.pkl") {
				return d[:len(d)/2]
			}
			return d
		}, "tiny_state_dict/data.pkl: corrupt checkpoint: pickle"},
		{"bigendian", tinyStateDict, func(n string, d []byte) []byte {
			if strings.HasSuffix(n, "/version") {
				return d
			}
			return d
		}, ""},
	} {
		data := rewriteZip(t, tc.fixture, tc.edit)
		if tc.name == "bigendian" {
			data = addEntry(t, data, "tiny_state_dict/byteorder", []byte("big"))
			tc.want = `byteorder "big"`
		}
		_, err := loadErr(t, tc.name+".pt", data)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// addEntry appends an entry to a zip.
func addEntry(t *testing.T, data []byte, name string, content []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := w.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	fw, _ := w.Create(name)
	fw.Write(content)
	w.Close()
	return buf.Bytes()
}

func TestLoadDeflatedZip(t *testing.T) {
	zr, err := zip.OpenReader(tinyStateDict)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, _ := f.Open()
		fw, _ := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate})
		var d bytes.Buffer
		d.ReadFrom(rc)
		rc.Close()
		fw.Write(d.Bytes())
	}
	w.Close()
	zr.Close()
	got := mustLoad(t, writeTemp(t, "deflated.pt", buf.Bytes()))
	compareStateDicts(t, got, mustLoad(t, tinyExpected), true)
}

func TestStateDict(t *testing.T) {
	sd := NewStateDict()
	sd.Set("a", &Tensor{Shape: []int{1}, Data: []float32{1}})
	sd.Set("b", &Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)})
	sd.Set("a", &Tensor{Shape: []int{1}, Data: []float32{3}})
	if !slices.Equal(sd.Keys(), []string{"a", "b"}) || sd.Get("a").Data[0] != 3 || sd.Get("b").Numel() != 4 {
		t.Errorf("Set: %v", sd.Keys())
	}
	sd.Delete("a")
	sd.Delete("zz")
	if !slices.Equal(sd.Keys(), []string{"b"}) || sd.Get("a") != nil || sd.Len() != 1 {
		t.Errorf("Delete: %v", sd.Keys())
	}
	if FormatTorchScript.String() != "torchscript" || Format(99).String() != "unknown" {
		t.Error("Format.String")
	}
}

func TestHFMappingErrors(t *testing.T) {
	w := &Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)}
	raw := NewStateDict()
	raw.Set("text_model.encoder.layers.0.self_attn.q_proj.weight", w)
	raw.Set("text_model.encoder.layers.0.self_attn.k_proj.weight", w)
	if _, err := fromHF(raw); err == nil || !strings.Contains(err.Error(), "transformer.resblocks.0.attn.in_proj_weight from q_proj/k_proj/v_proj: v_proj missing") {
		t.Errorf("missing v_proj: %v", err)
	}
	raw = NewStateDict()
	raw.Set("visual_projection.weight", &Tensor{Shape: []int{4}, Data: make([]float32, 4)})
	if _, err := fromHF(raw); err == nil || !strings.Contains(err.Error(), `"visual_projection.weight"`) {
		t.Errorf("1-D projection: %v", err)
	}
	for hf, want := range map[string]string{
		"vision_model.encoder.layers.11.mlp.fc2.bias":           "visual.transformer.resblocks.11.mlp.c_proj.bias",
		"vision_model.pre_layrnorm.weight":                      "visual.ln_pre.weight",
		"text_model.encoder.layers.3.layer_norm2.bias":          "transformer.resblocks.3.ln_2.bias",
		"text_model.encoder.layers.3.self_attn.out_proj.weight": "transformer.resblocks.3.attn.out_proj.weight",
	} {
		if got, ok := hfRename(hf); !ok || got != want {
			t.Errorf("hfRename(%s) = %s, %v; want %s", hf, got, ok, want)
		}
	}
}

func TestMaterializeBounds(t *testing.T) {
	l := &zipLoader{path: "x.pt", src: newBytesSource(make([]byte, 100)), budget: 1000, files: map[string]*zip.File{}, cache: map[string][]byte{}}
	st := &storageRef{dtype: dtF32, class: "FloatStorage", key: "7", numel: 10}
	for _, tc := range []struct {
		ref  tensorRef
		want string
	}{
		{tensorRef{st, 5, []int64{2, 3}, []int64{3, 1}}, `tensor "k": storage "7" of 10 elements too short for offset 5, size [2 3], stride [3 1]`},
		{tensorRef{st, 10, []int64{}, []int64{}}, `too short for offset 10`},
		{tensorRef{st, 0, []int64{1 << 62, 4}, []int64{1, 1}}, `more elements than its storage "7"`},
		{tensorRef{st, 0, []int64{2}, []int64{1 << 62}}, `too short`},
		{tensorRef{st, 0, []int64{2, 2}, []int64{1}}, `differ in rank`},
		{tensorRef{st, -1, []int64{1}, []int64{1}}, `negative storage offset`},
		{tensorRef{st, 0, []int64{2}, []int64{1}}, `zip entry "data/7" missing (storage key "7")`},
		{tensorRef{&storageRef{class: "ComplexFloatStorage", key: "3", numel: 4}, 0, []int64{4}, []int64{1}}, `unsupported checkpoint: tensor "k": storage type torch.ComplexFloatStorage`},
	} {
		if _, err := l.materialize("k", &tc.ref); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.ref, err, tc.want)
		}
	}
	// A view needing more elements than the file could hold.
	l.budget = 3
	if _, err := l.materialize("k", &tensorRef{st, 0, []int64{4}, []int64{1}}); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("budget: %v", err)
	}
}

func ExampleLoad() {
	sd, format, err := Load("testdata/tiny_torchscript.pt")
	if err != nil {
		fmt.Println(err)
		return
	}
	proj := sd.Get("visual.proj")
	fmt.Println(format, sd.Len(), proj.Shape, sd.Keys()[0])
	// Output: torchscript 62 [32 32] positional_embedding
}

func ExampleSaveSafetensors() {
	sd, _, _ := Load("testdata/tiny_hf.safetensors") // HF names in, OpenAI names out
	path := filepath.Join(os.TempDir(), "gocoop-example.safetensors")
	defer os.Remove(path)
	if err := SaveSafetensors(path, sd.Keys(), sd.Map(), map[string]string{"format": "pt"}); err != nil {
		fmt.Println(err)
		return
	}
	back, format, _ := Load(path)
	fmt.Println(format, back.Len(), back.Get("transformer.resblocks.0.attn.in_proj_weight").Shape)
	// Output: safetensors 62 [96 32]
}

func BenchmarkLoad(b *testing.B) {
	for _, path := range []string{tinyOpenAI, tinyHF, tinyStateDict, tinyScript} {
		st, _ := os.Stat(path)
		b.Run(filepath.Base(path), func(b *testing.B) {
			b.SetBytes(st.Size())
			for b.Loop() {
				if _, _, err := Load(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestLoadZipChecksum(t *testing.T) {
	b, _ := os.ReadFile(tinyStateDict)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name != "tiny_state_dict/data/3" {
			continue
		}
		off, _ := f.DataOffset()
		b[off+1] ^= 0x40
		_, err := loadErr(t, "flipped.pt", b)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `zip entry "tiny_state_dict/data/3": CRC-32`) {
			t.Errorf("flipped storage byte: %v", err)
		}
		return
	}
	t.Fatal("entry not found")
}

// TestKeepHalf: with LoadOptions.KeepHalf the F16 tensors of a torch zip
// (a TorchScript archive stored in float16, as the OpenAI release) and of
// safetensors come as their binary16 bits, which widen to exactly what Load
// gives; the other dtypes are as Load gives them.
func TestKeepHalf(t *testing.T) {
	for _, name := range []string{"tiny_scripted.pt", "tiny_dtypes.safetensors", "tiny_dtypes.pt"} {
		path := filepath.Join("testdata", name)
		want, _, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := LoadWith(path, LoadOptions{KeepHalf: true})
		if err != nil {
			t.Fatal(err)
		}
		halves := 0
		for _, k := range want.Keys() {
			g, w := got.Get(k), want.Get(k)
			if g.Half != nil {
				halves++
				if g.Data != nil || len(g.Half) != len(w.Data) {
					t.Fatalf("%s %s: Half %d values and Data %d, want %d halves only", name, k, len(g.Half), len(g.Data), len(w.Data))
				}
				g.widen()
			}
			if !slices.Equal(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
				t.Fatalf("%s %s: shape %v (%d values), want %v (%d)", name, k, g.Shape, len(g.Data), w.Shape, len(w.Data))
			}
			for i := range w.Data {
				if !sameBits(g.Data[i], w.Data[i]) {
					t.Fatalf("%s %s[%d]: %v, want %v", name, k, i, g.Data[i], w.Data[i])
				}
			}
		}
		if halves == 0 {
			t.Errorf("%s: no tensor kept in float16", name)
		}
	}
}
