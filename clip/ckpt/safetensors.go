package ckpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// maxSafetensorsHeader caps the JSON header (the Python reader's limit).
const maxSafetensorsHeader = 100 << 20

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	name       string
	dtype      dtype
	shape      []int
	begin, end int64 // relative to the data section
}

// stHeaderEntry is the JSON form of a header entry.
type stHeaderEntry struct {
	Dtype       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parseSafetensorsHeader reads and validates the header: every entry's
// dtype is known, its byte range lies inside the data section, matches
// dtype×shape, and no two ranges overlap. It returns the entries in header
// order and the absolute offset of the data section.
func parseSafetensorsHeader(path string, src source) ([]stEntry, map[string]string, int64, error) {
	size := src.Size()
	if size < 8 {
		return nil, nil, 0, fmt.Errorf("%s: %w: safetensors file of %d bytes has no header length", path, ErrCorrupt, size)
	}
	lb, err := src.slice(0, 8)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lb)
	if n > uint64(size-8) {
		return nil, nil, 0, fmt.Errorf("%s: %w: safetensors header length %d larger than the file (%d bytes; truncated?)", path, ErrCorrupt, n, size)
	}
	if n > maxSafetensorsHeader {
		return nil, nil, 0, fmt.Errorf("%s: %w: safetensors header length %d exceeds %d", path, ErrUnsupported, n, maxSafetensorsHeader)
	}
	hb, err := src.slice(8, int64(n))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.UseNumber()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: safetensors header: %s", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, 0, bad("not a JSON object")
	}
	var (
		entries []stEntry
		meta    map[string]string
		seen    = make(map[string]bool)
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, 0, bad("%v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, 0, bad("key %v is not a string", tok)
		}
		if seen[name] {
			return nil, nil, 0, bad("duplicate key %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, 0, bad("__metadata__: %v", err)
			}
			continue
		}
		var h stHeaderEntry
		if err := dec.Decode(&h); err != nil {
			return nil, nil, 0, bad("tensor %q: %v", name, err)
		}
		e, err := checkEntry(name, h, dataLen)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, 0, bad("%v", err)
	}
	if rest := bytes.TrimLeft(hb[dec.InputOffset():], " \t\r\n\x00"); len(rest) != 0 {
		return nil, nil, 0, bad("trailing bytes after the JSON object")
	}

	// Ranges must not overlap (this also bounds the output by the file size).
	byBegin := make([]int, len(entries))
	for i := range byBegin {
		byBegin[i] = i
	}
	sort.SliceStable(byBegin, func(a, b int) bool { return entries[byBegin[a]].begin < entries[byBegin[b]].begin })
	for i := 1; i < len(byBegin); i++ {
		prev, cur := entries[byBegin[i-1]], entries[byBegin[i]]
		if cur.begin < prev.end {
			return nil, nil, 0, fmt.Errorf("%s: %w: safetensors tensors %q and %q overlap", path, ErrCorrupt, prev.name, cur.name)
		}
	}
	return entries, meta, dataStart, nil
}

// checkEntry validates one header entry against the data section length.
func checkEntry(name string, h stHeaderEntry, dataLen int64) (stEntry, error) {
	e := stEntry{name: name}
	d, ok := safetensorsDtype(h.Dtype)
	if !ok {
		return e, fmt.Errorf("%w: dtype %q of tensor %q", ErrUnsupported, h.Dtype, name)
	}
	e.dtype = d
	if len(h.DataOffsets) != 2 {
		return e, fmt.Errorf("%w: tensor %q: data_offsets has %d values, want 2", ErrCorrupt, name, len(h.DataOffsets))
	}
	e.begin, e.end = h.DataOffsets[0], h.DataOffsets[1]
	if e.begin < 0 || e.end < e.begin || e.end > dataLen {
		return e, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] outside the data section (%d bytes; truncated?)", ErrCorrupt, name, e.begin, e.end, dataLen)
	}
	nbytes := e.end - e.begin
	// numel·size must equal nbytes; stop multiplying once it exceeds it.
	maxElems := nbytes / int64(d.size())
	numel := int64(1)
	e.shape = make([]int, len(h.Shape))
	for i, s := range h.Shape {
		if s < 0 || s > math.MaxInt {
			return e, fmt.Errorf("%w: tensor %q: invalid dimension %d in shape %v", ErrCorrupt, name, s, h.Shape)
		}
		e.shape[i] = int(s)
		if numel != 0 && s != 0 && numel > maxElems/s {
			numel = -1 // more elements than bytes; reported below
			break
		}
		numel *= s
	}
	if numel < 0 || numel*int64(d.size()) != nbytes {
		return e, fmt.Errorf("%w: tensor %q: shape %v of %s needs %s bytes, data_offsets give %d", ErrCorrupt, name, h.Shape, d, bytesNeeded(h.Shape, d), nbytes)
	}
	return e, nil
}

// bytesNeeded formats numel·size for messages, saturating on overflow.
func bytesNeeded(shape []int64, d dtype) string {
	n := float64(d.size())
	for _, s := range shape {
		n *= float64(s)
	}
	if n > math.MaxInt64 {
		return fmt.Sprintf("%.3g", n)
	}
	return fmt.Sprint(int64(n))
}

// isHFName reports whether a key uses Hugging Face CLIPModel names.
func isHFName(k string) bool {
	return strings.HasPrefix(k, "text_model.") || strings.HasPrefix(k, "vision_model.")
}

// loadSafetensors reads a safetensors file, mapping Hugging Face names.
func loadSafetensors(path string, src source, keepHalf bool) (*StateDict, Format, error) {
	entries, _, dataStart, err := parseSafetensorsHeader(path, src)
	if err != nil {
		return nil, FormatSafetensors, err
	}
	format := FormatSafetensors
	for _, e := range entries {
		if isHFName(e.name) {
			format = FormatHFSafetensors
			break
		}
	}
	raw := NewStateDict()
	for _, e := range entries {
		b, err := src.slice(dataStart+e.begin, e.end-e.begin)
		if err != nil {
			return nil, format, fmt.Errorf("%s: tensor %q: %w", path, e.name, err)
		}
		n := (e.end - e.begin) / int64(e.dtype.size())
		t := &Tensor{Shape: e.shape}
		if keepHalf && e.dtype == dtF16 && format != FormatHFSafetensors {
			t.Half = make([]uint16, n)
			gatherHalf(t.Half, b, 0, []int{int(n)}, []int{1})
		} else {
			t.Data = make([]float32, n)
			decode(t.Data, b, e.dtype)
		}
		raw.Set(e.name, t)
	}
	if format == FormatHFSafetensors {
		sd, err := fromHF(raw)
		if err != nil {
			return nil, format, fmt.Errorf("%s: %w", path, err)
		}
		return sd, format, nil
	}
	return raw, format, nil
}

// SaveSafetensors writes tensors as safetensors to path, in the order of
// names (nil names: every tensor, sorted by name): F32, or F16 for a tensor
// given as Half (float16 weights stay float16, as PyTorch saves them).
// Each name must be in tensors with len(Data), or len(Half), equal to the
// product of Shape. metadata, if not empty, is stored as "__metadata__".
//
// The file is written atomically (WriteFileAtomic).
func SaveSafetensors(path string, names []string, tensors map[string]*Tensor, metadata map[string]string) (err error) {
	if names == nil {
		for k := range tensors {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	header, err := safetensorsHeader(names, tensors, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	return WriteFileAtomic(path, func(w io.Writer) error {
		var lb [8]byte
		binary.LittleEndian.PutUint64(lb[:], uint64(len(header)))
		if _, err := w.Write(lb[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		buf := make([]byte, 0, 64<<10)
		flush := func() error {
			if len(buf)+4 > cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
			return nil
		}
		for _, name := range names {
			t := tensors[name]
			for _, h := range t.Half {
				buf = binary.LittleEndian.AppendUint16(buf, h)
				if err := flush(); err != nil {
					return err
				}
			}
			for _, v := range t.Data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if err := flush(); err != nil {
					return err
				}
			}
		}
		_, err := w.Write(buf)
		return err
	})
}

// safetensorsHeader builds the space-padded JSON header: F32 tensors, F16
// for those given as Half.
func safetensorsHeader(names []string, tensors map[string]*Tensor, metadata map[string]string) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		mj, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return nil, err
		}
		comma()
		h.WriteString(`"__metadata__":`)
		h.Write(mj)
	}
	seen := make(map[string]bool, len(names))
	var off int64
	for _, name := range names {
		t, ok := tensors[name]
		switch {
		case !ok || t == nil:
			return nil, fmt.Errorf("tensor %q: not in the tensor map", name)
		case seen[name]:
			return nil, fmt.Errorf("tensor %q: named twice", name)
		case name == "__metadata__":
			return nil, fmt.Errorf("tensor name %q is reserved", name)
		}
		seen[name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q: negative dimension in shape %v", name, t.Shape)
			}
			n *= d
		}
		dtype, size, have := "F32", int64(4), len(t.Data)
		if t.Half != nil {
			dtype, size, have = "F16", 2, len(t.Half)
			if t.Data != nil {
				return nil, fmt.Errorf("tensor %q: both float32 Data and float16 Half", name)
			}
		}
		if n != have {
			return nil, fmt.Errorf("tensor %q: shape %v has %d elements, data %d", name, t.Shape, n, have)
		}
		nj, _ := json.Marshal(name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sj, _ := json.Marshal(shape)
		end := off + size*int64(n)
		comma()
		fmt.Fprintf(&h, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, nj, dtype, sj, off, end)
		off = end
	}
	h.WriteByte('}')
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes(), nil
}
