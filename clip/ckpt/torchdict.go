package ckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
)

// Training checkpoints: torch.save of a dict that holds a state dict beside
// other entries, as Dassl's save_checkpoint writes
// {"state_dict": ..., "epoch": 10, "optimizer": ..., "scheduler": ...}.
// LoadTorchDict reads one, SaveTorch writes one that torch.load reads.

// TorchDict is a dict with str keys, in insertion order. Its values are
// nil (None), bool, int64, float64, string, *Tensor, *TorchDict, or (when
// read) TorchOther for anything else.
type TorchDict struct {
	Keys   []string
	Values []any
	// Ordered pickles the dict as collections.OrderedDict (as
	// Module.state_dict() is); a plain dict otherwise. Not set when read.
	Ordered bool
}

// TorchOther stands for a value LoadTorchDict does not convert: a list, a
// tuple, a dict with non-str keys, a pickled object.
type TorchOther struct{ Type string }

// Set adds key (or replaces its value) and returns d.
func (d *TorchDict) Set(key string, v any) *TorchDict {
	for i, k := range d.Keys {
		if k == key {
			d.Values[i] = v
			return d
		}
	}
	d.Keys = append(d.Keys, key)
	d.Values = append(d.Values, v)
	return d
}

// Get returns key's value.
func (d *TorchDict) Get(key string) (any, bool) {
	for i, k := range d.Keys {
		if k == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

// LoadTorchDict reads a torch.save zip archive whose pickled root is a dict
// with str keys. Tensors in it and in nested dicts with str keys are read
// as contiguous float32 under their keys as stored (none of Load's CLIP
// renaming); every other value that is not None, a bool, an int, a float
// or a str becomes a TorchOther.
func LoadTorchDict(path string) (*TorchDict, error) {
	src, err := openSource(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	head, err := src.slice(0, min(src.Size(), 16))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !isZip(head) {
		if isLegacyTorch(head) {
			return nil, fmt.Errorf("%s: %w: legacy (pre-1.6, non-zip) torch.save format; re-save with torch>=1.6", path, ErrUnsupported)
		}
		return nil, fmt.Errorf("%s: not a torch.save zip archive: %w (first bytes % x)", path, ErrUnknownFormat, head)
	}
	l, root, pklName, err := openZip(path, src)
	if err != nil {
		return nil, err
	}
	v, err := l.convert(root, "", 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d, ok := v.(*TorchDict)
	if !ok {
		return nil, fmt.Errorf("%s: %s: %w: root is %s, not a dict with str keys", path, pklName, ErrUnsupported, typeName(root))
	}
	return d, nil
}

// convert turns a pickled value into LoadTorchDict's types; key names the
// value in messages (nested keys joined by "/").
func (l *zipLoader) convert(v any, key string, depth int) (any, error) {
	switch v := v.(type) {
	case nil, bool, int64, float64, string:
		return v, nil
	case *tensorRef:
		return l.materialize(key, v)
	case *pyDict:
		if depth > maxModuleDepth {
			return nil, fmt.Errorf("%w: dicts nested deeper than %d at %q", ErrUnsupported, maxModuleDepth, key)
		}
		d := &TorchDict{}
		for i, k := range v.keys {
			s, ok := k.(string)
			if !ok {
				return TorchOther{"dict with " + typeName(k) + " keys"}, nil
			}
			name := s
			if key != "" {
				name = key + "/" + s
			}
			cv, err := l.convert(v.vals[i], name, depth+1)
			if err != nil {
				return nil, err
			}
			d.Keys = append(d.Keys, s)
			d.Values = append(d.Values, cv)
		}
		return d, nil
	}
	return TorchOther{typeName(v)}, nil
}

// torchArchiveName is the folder of every entry; torch.load accepts any.
const torchArchiveName = "archive"

// SaveTorch writes root as torch.save (zip format, pickle protocol 2)
// would, so that torch.load (weights_only included) reads it back: tensors
// become torch._utils._rebuild_tensor_v2 of a contiguous torch.FloatStorage
// of their own, stored uncompressed and 64-byte aligned under
// archive/data/<n>. Values must be of the types TorchDict lists except
// TorchOther (int is accepted for int64).
//
// The file is written to a temporary file in the same directory, synced and
// renamed over path, so path is either the old file or the complete new one.
func SaveTorch(path string, root *TorchDict) error {
	var p pickler
	p.buf.WriteString("\x80\x02") // PROTO 2
	if err := p.value(root, ""); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	p.buf.WriteByte('.') // STOP
	return WriteFileAtomic(path, func(w io.Writer) error {
		return writeTorchZip(w, p.buf.Bytes(), p.storages)
	})
}

// pickler writes the pickle of a TorchDict and collects tensor storages.
type pickler struct {
	buf      bytes.Buffer
	storages []*Tensor
}

func (p *pickler) str(s string) {
	p.buf.WriteByte('X') // BINUNICODE
	p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.buf.WriteString(s)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.buf.Write([]byte{'K', byte(v)}) // BININT1
	case v >= 0 && v < 1<<16:
		p.buf.WriteByte('M') // BININT2
		p.buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf.WriteByte('J') // BININT
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		p.buf.Write([]byte{0x8a, 8}) // LONG1, 8 bytes two's complement
		p.buf.Write(binary.LittleEndian.AppendUint64(nil, uint64(v)))
	}
}

func (p *pickler) global(module, name string) {
	p.buf.WriteString("c" + module + "\n" + name + "\n") // GLOBAL
}

// orderedDict pushes an empty collections.OrderedDict().
func (p *pickler) orderedDict() {
	p.global("collections", "OrderedDict")
	p.buf.WriteString(")R") // EMPTY_TUPLE, REDUCE
}

func (p *pickler) intTuple(v []int) {
	if len(v) == 0 {
		p.buf.WriteByte(')') // EMPTY_TUPLE
		return
	}
	p.buf.WriteByte('(') // MARK
	for _, x := range v {
		p.int(int64(x))
	}
	p.buf.WriteByte('t') // TUPLE
}

func (p *pickler) value(v any, key string) error {
	switch v := v.(type) {
	case nil:
		p.buf.WriteByte('N')
	case bool:
		if v {
			p.buf.WriteByte(0x88)
		} else {
			p.buf.WriteByte(0x89)
		}
	case int:
		p.int(int64(v))
	case int64:
		p.int(v)
	case float64:
		p.buf.WriteByte('G') // BINFLOAT, big-endian
		p.buf.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(v)))
	case string:
		p.str(v)
	case *Tensor:
		return p.tensor(v, key)
	case *TorchDict:
		if len(v.Keys) != len(v.Values) {
			return fmt.Errorf("dict %q: %d keys, %d values", key, len(v.Keys), len(v.Values))
		}
		if v.Ordered {
			p.orderedDict()
		} else {
			p.buf.WriteByte('}') // EMPTY_DICT
		}
		if len(v.Keys) == 0 {
			return nil
		}
		p.buf.WriteByte('(') // MARK
		for i, k := range v.Keys {
			p.str(k)
			name := k
			if key != "" {
				name = key + "/" + k
			}
			if err := p.value(v.Values[i], name); err != nil {
				return err
			}
		}
		p.buf.WriteByte('u') // SETITEMS
	default:
		return fmt.Errorf("%q: cannot save a %T", key, v)
	}
	return nil
}

// tensor writes _rebuild_tensor_v2(('storage', torch.FloatStorage, key,
// 'cpu', numel), 0, shape, contiguous stride, False, OrderedDict()).
func (p *pickler) tensor(t *Tensor, key string) error {
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative size in %v", key, t.Shape)
		}
		n *= d
	}
	if n != len(t.Data) {
		return fmt.Errorf("tensor %q: shape %v needs %d values, has %d", key, t.Shape, n, len(t.Data))
	}
	stride := make([]int, len(t.Shape))
	s := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		stride[i] = s
		s *= t.Shape[i]
	}
	id := strconv.Itoa(len(p.storages))
	p.storages = append(p.storages, t)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.buf.WriteString("((") // MARK (arguments), MARK (persistent id)
	p.str("storage")
	p.global("torch", "FloatStorage")
	p.str(id)
	p.str("cpu")
	p.int(int64(n))
	p.buf.WriteString("tQ") // TUPLE, BINPERSID
	p.int(0)                // storage offset
	p.intTuple(t.Shape)
	p.intTuple(stride)
	p.buf.WriteByte(0x89)   // requires_grad False
	p.orderedDict()         // backward hooks
	p.buf.WriteString("tR") // TUPLE, REDUCE
	return nil
}

// torchAlign is the alignment of entry data in torch's zip writer.
const torchAlign = 64

// writeTorchZip writes torch's zip layout: archive/data.pkl, the storages
// as archive/data/<n> (little-endian float32), archive/byteorder and
// archive/version, all stored, each entry's data 64-byte aligned by a
// padding extra field as torch's writer does.
func writeTorchZip(w io.Writer, pkl []byte, storages []*Tensor) error {
	zw := zip.NewWriter(w)
	var offset int64
	add := func(name string, data []byte) error {
		local := int64(30 + len(name))
		pad := (torchAlign - (offset+local)%torchAlign) % torchAlign
		if pad > 0 && pad < 4 {
			pad += torchAlign
		}
		var extra []byte
		if pad > 0 {
			extra = append([]byte("FB"), binary.LittleEndian.AppendUint16(nil, uint16(pad-4))...)
			extra = append(extra, bytes.Repeat([]byte{'Z'}, int(pad-4))...)
		}
		fw, err := zw.CreateRaw(&zip.FileHeader{
			Name: name, Method: zip.Store, Extra: extra, CRC32: crc32.ChecksumIEEE(data),
			CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)),
		})
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
		offset += local + pad + int64(len(data))
		return nil
	}
	if err := add(torchArchiveName+"/data.pkl", pkl); err != nil {
		return err
	}
	for i, t := range storages {
		b := make([]byte, 0, 4*len(t.Data))
		for _, v := range t.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		if err := add(torchArchiveName+"/data/"+strconv.Itoa(i), b); err != nil {
			return err
		}
	}
	if err := add(torchArchiveName+"/byteorder", []byte("little")); err != nil {
		return err
	}
	if err := add(torchArchiveName+"/version", []byte("3\n")); err != nil {
		return err
	}
	return zw.Close()
}
