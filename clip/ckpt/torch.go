package ckpt

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
)

// Torch zip archives (docs/clip.md §2.4): torch.save state dicts and
// torch.jit.save module trees share the layout <p>/data.pkl + <p>/data/<key>.

// storageRef is a persistent storage id: ('storage', torch.<T>Storage, key,
// location, numel). The bytes live in the zip entry <p>/data/<key>.
type storageRef struct {
	dtype dtype  // dtInvalid for storage types we cannot convert
	class string // torch storage class name, for messages
	key   string
	numel int64
}

// tensorRef is a strided view of a storage (_rebuild_tensor_v2).
type tensorRef struct {
	storage       *storageRef
	offset        int64
	shape, stride []int64
}

// torchPersistentLoad resolves a storage persistent id.
func torchPersistentLoad(pid any) (any, error) {
	t, ok := pid.(*pyTuple)
	if !ok || len(t.items) < 5 || t.items[0] != "storage" {
		return nil, fmt.Errorf("persistent id %s is not a ('storage', type, key, location, numel) tuple", typeName(pid))
	}
	g, ok := t.items[1].(*pyGlobal)
	if !ok || g.module != "torch" {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", typeName(t.items[1]))
	}
	key, ok := t.items[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a str", typeName(t.items[2]))
	}
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %q: element count %v invalid", key, t.items[4])
	}
	d, _ := torchStorageDtype(g.name)
	return &storageRef{dtype: d, class: g.name, key: key, numel: numel}, nil
}

// rebuildTensor interprets _rebuild_tensor(_v2)(storage, offset, size,
// stride, ...). Bounds are checked when the tensor is read (materialize),
// where its key is known.
func (u *unpickler) rebuildTensor(g *pyGlobal, a []any) (any, error) {
	if len(a) < 4 {
		return nil, u.errorf("%s needs at least 4 arguments, got %d", g, len(a))
	}
	s, ok := a[0].(*storageRef)
	if !ok {
		return nil, u.errorf("%s: storage argument is %s", g, typeName(a[0]))
	}
	off, ok := a[1].(int64)
	if !ok {
		return nil, u.errorf("%s: storage offset is %s", g, typeName(a[1]))
	}
	shape, ok1 := intItems(a[2])
	stride, ok2 := intItems(a[3])
	if !ok1 || !ok2 {
		return nil, u.errorf("%s: size or stride is not a tuple of ints", g)
	}
	return &tensorRef{storage: s, offset: off, shape: shape, stride: stride}, nil
}

// intItems returns the elements of an int tuple or list.
func intItems(v any) ([]int64, bool) {
	var items []any
	switch v := v.(type) {
	case *pyTuple:
		items = v.items
	case *pyList:
		items = v.items
	default:
		return nil, false
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// zipLoader reads storages from a torch zip archive.
type zipLoader struct {
	path   string
	src    source
	prefix string // "<p>/"
	files  map[string]*zip.File
	cache  map[string][]byte // entry name → bytes
	budget int64             // float32 elements still allowed in the output
	// members caches classMembers by "module\nname" (nil: not found).
	members  map[string]map[string]bool
	keepHalf bool // F16 storages stay binary16 (Tensor.Half)
}

// isZip reports a zip local-file or end-of-directory signature.
func isZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}

// isLegacyTorch recognises the pre-1.6 torch.save magic number pickled as
// LONG1 after PROTO 2.
func isLegacyTorch(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19})
}

// maxInflateRatio bounds how much a DEFLATE entry may expand (deflate's own
// limit is about 1032:1).
const maxInflateRatio = 1100

// entryBytes returns an entry's content: a view of the mapping for STORED
// entries, a decompressed copy otherwise. Decompressed bytes raise the
// output budget, which otherwise follows the file size.
func (l *zipLoader) entryBytes(f *zip.File) ([]byte, error) {
	if b, ok := l.cache[f.Name]; ok {
		return b, nil
	}
	size := f.UncompressedSize64
	var b []byte
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("%w: zip entry %q: %v", ErrCorrupt, f.Name, err)
		}
		if f.CompressedSize64 != size || size > uint64(l.src.Size()) {
			return nil, fmt.Errorf("%w: zip entry %q: stored sizes %d/%d invalid", ErrCorrupt, f.Name, f.CompressedSize64, size)
		}
		if b, err = l.src.slice(off, int64(size)); err != nil {
			return nil, fmt.Errorf("zip entry %q: %w", f.Name, err)
		}
		// archive/zip checks this on Open; reading the mapping directly
		// must check it too (hardware CRC32: a few GB/s).
		if crc := crc32.ChecksumIEEE(b); crc != f.CRC32 {
			return nil, fmt.Errorf("%w: zip entry %q: CRC-32 %08x, directory says %08x", ErrCorrupt, f.Name, crc, f.CRC32)
		}
	} else {
		if size > maxInflateRatio*f.CompressedSize64+1024 || size > math.MaxInt32 {
			return nil, fmt.Errorf("%w: zip entry %q claims %d bytes from %d compressed", ErrCorrupt, f.Name, size, f.CompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: zip entry %q: %v", ErrCorrupt, f.Name, err)
		}
		defer rc.Close()
		b, err = io.ReadAll(io.LimitReader(rc, int64(size)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: zip entry %q: %v", ErrCorrupt, f.Name, err)
		}
		if uint64(len(b)) != size {
			return nil, fmt.Errorf("%w: zip entry %q: %d bytes, header says %d", ErrCorrupt, f.Name, len(b), size)
		}
		l.budget += 4 * int64(len(b))
	}
	l.cache[f.Name] = b
	return b, nil
}

// loadZip reads a torch.save or torch.jit.save archive.
func loadZip(path string, src source, keepHalf bool) (*StateDict, Format, error) {
	l, root, pklName, err := openZip(path, src)
	if err != nil {
		return nil, FormatUnknown, err
	}
	l.keepHalf = keepHalf
	refs, format, err := collectTensorsWith(root, l.classMembers)
	if err != nil {
		return nil, format, fmt.Errorf("%s: %s: %w", path, pklName, err)
	}
	sd := NewStateDict()
	for _, r := range refs {
		t, err := l.materialize(r.key, r.ref)
		if err != nil {
			return nil, format, fmt.Errorf("%s: %w", path, err)
		}
		sd.Set(r.key, t)
	}
	return sd, format, nil
}

// openZip indexes a torch zip archive and unpickles its data.pkl; it
// returns the loader (for the storages), the pickled root and the name of
// the data.pkl entry.
func openZip(path string, src source) (*zipLoader, any, string, error) {
	zr, err := zip.NewReader(src, src.Size())
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	l := &zipLoader{
		path:   path,
		src:    src,
		files:  make(map[string]*zip.File, len(zr.File)),
		cache:  make(map[string][]byte),
		budget: 4*src.Size() + 1<<16,
	}
	var pkl *zip.File
	for _, f := range zr.File {
		l.files[f.Name] = f
		dir, base, found := strings.Cut(f.Name, "/")
		if base == "data.pkl" && found && !strings.Contains(dir, "/") || f.Name == "data.pkl" {
			if pkl != nil {
				return nil, nil, "", fmt.Errorf("%s: %w: two data.pkl records (%q, %q)", path, ErrCorrupt, pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, nil, "", fmt.Errorf("%s: not a CLIP checkpoint: %w (zip archive without <dir>/data.pkl)", path, ErrUnknownFormat)
	}
	l.prefix = strings.TrimSuffix(pkl.Name, "data.pkl")
	if f := l.files[l.prefix+"byteorder"]; f != nil {
		b, err := l.entryBytes(f)
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", path, err)
		}
		if order := strings.TrimSpace(string(b)); order != "little" {
			return nil, nil, "", fmt.Errorf("%s: %w: byteorder %q", path, ErrUnsupported, order)
		}
	}
	data, err := l.entryBytes(pkl)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", path, err)
	}
	root, err := unpickle(data, torchPersistentLoad)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %s: %w", path, pkl.Name, err)
	}
	return l, root, pkl.Name, nil
}

// classMembers returns the names of the parameters and buffers of a
// TorchScript class, read from the __parameters__ and __buffers__ lists of
// its source <p>/code/<module path>.py; ok is false when that source or the
// lists cannot be found (then every tensor attribute counts). Other tensor
// attributes — a torch.jit.script'ed module's plain attributes, such as
// clip/model.py's attn_mask — are not in state_dict() and must be skipped.
func (l *zipLoader) classMembers(g *pyGlobal) (members map[string]bool, ok bool) {
	id := g.module + "\n" + g.name
	if m, seen := l.members[id]; seen {
		return m, m != nil
	}
	if l.members == nil {
		l.members = make(map[string]map[string]bool)
	}
	l.members[id] = nil
	f := l.files[l.prefix+"code/"+strings.ReplaceAll(g.module, ".", "/")+".py"]
	if f == nil || f.UncompressedSize64 > maxCodeBytes {
		return nil, false
	}
	code, err := l.entryBytes(f)
	if err != nil {
		return nil, false
	}
	m := parseClassMembers(string(code), g.name)
	l.members[id] = m
	return m, m != nil
}

// maxCodeBytes bounds the TorchScript source read for one class.
const maxCodeBytes = 16 << 20

// parseClassMembers finds "class <name>(" in TorchScript source (as
// torch/csrc/jit/serialization/python_print.cpp writes it) and returns the
// names in its __parameters__ and __buffers__ lists, or nil when the class
// or either list is missing.
func parseClassMembers(code, name string) map[string]bool {
	var body []string
	in := false
	for line := range strings.SplitSeq(code, "\n") {
		if !strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "" {
			if in {
				break
			}
			in = strings.HasPrefix(line, "class "+name+"(")
			continue
		}
		if in {
			body = append(body, strings.TrimSpace(line))
		}
	}
	m := map[string]bool{}
	found := 0
	for _, line := range body {
		for _, list := range []string{"__parameters__ = [", "__buffers__ = ["} {
			rest, ok := strings.CutPrefix(line, list)
			if !ok {
				continue
			}
			items, _, ok := strings.Cut(rest, "]")
			if !ok {
				return nil
			}
			found++
			for i, s := range strings.Split(items, "\"") {
				if i%2 == 1 {
					m[s] = true
				}
			}
		}
	}
	if found != 2 {
		return nil
	}
	return m
}

type namedRef struct {
	key string
	ref *tensorRef
}

// stateDictWrappers are keys of training checkpoints that hold the state
// dict, tried in order.
var stateDictWrappers = []string{"state_dict", "model_state_dict", "model"}

// collectTensors lists the tensors of a data.pkl root: the entries of a
// state dict, or the depth-first walk of a TorchScript module tree.
func collectTensors(root any) ([]namedRef, Format, error) {
	return collectTensorsWith(root, nil)
}

// collectTensorsWith is collectTensors where members (if not nil) names the
// parameters and buffers of a TorchScript class; tensor attributes of a
// class it knows that are neither are skipped.
func collectTensorsWith(root any, members func(*pyGlobal) (map[string]bool, bool)) ([]namedRef, Format, error) {
	switch r := root.(type) {
	case *pyObject:
		if !isTorchScriptClass(r.class) {
			return nil, FormatTorchZip, fmt.Errorf("%w: root is a pickled %s object, not a state dict (save model.state_dict())", ErrUnsupported, r.class)
		}
		var refs []namedRef
		w := &moduleWalker{seen: make(map[*pyObject]bool), keys: make(map[string]bool), members: members}
		if err := w.walk(r, "", 0, &refs); err != nil {
			return nil, FormatTorchScript, err
		}
		if len(refs) == 0 {
			return nil, FormatTorchScript, fmt.Errorf("%w: TorchScript module %s has no tensors", ErrCorrupt, r.class)
		}
		return refs, FormatTorchScript, nil
	case *pyDict:
		d := r
		for _, w := range stateDictWrappers {
			if v, ok := r.get(w); ok {
				if inner, ok := v.(*pyDict); ok {
					d = inner
					break
				}
			}
		}
		var refs []namedRef
		for i, k := range d.keys {
			name, ok1 := k.(string)
			t, ok2 := d.vals[i].(*tensorRef)
			if ok1 && ok2 {
				refs = append(refs, namedRef{name, t})
			}
		}
		if len(refs) == 0 {
			return nil, FormatTorchZip, fmt.Errorf("%w: the pickled dict holds no tensors", ErrCorrupt)
		}
		return refs, FormatTorchZip, nil
	}
	return nil, FormatTorchZip, fmt.Errorf("%w: root is %s, not a state dict or TorchScript module", ErrUnsupported, typeName(root))
}

// isTorchScriptClass reports a TorchScript-qualified class (__torch__.*).
func isTorchScriptClass(g *pyGlobal) bool {
	return g.module == "__torch__" || strings.HasPrefix(g.module, "__torch__.")
}

// Limits on the module walk (real CLIP: depth 6, keys < 70 bytes).
const (
	maxModuleDepth = 256
	maxKeyLen      = 1024
)

type moduleWalker struct {
	seen    map[*pyObject]bool // each module object is walked once
	keys    map[string]bool
	members func(*pyGlobal) (map[string]bool, bool) // nil: keep every tensor
}

// walk appends the tensors of a TorchScript module in attribute order:
// tensor attributes become prefix+name, child modules recurse with
// prefix+name+".", everything else (training flags, None, ...) is skipped.
func (w *moduleWalker) walk(o *pyObject, prefix string, depth int, refs *[]namedRef) error {
	if depth > maxModuleDepth {
		return fmt.Errorf("%w: module tree deeper than %d at %q", ErrUnsupported, maxModuleDepth, prefix)
	}
	w.seen[o] = true
	if o.attrs == nil {
		return nil
	}
	var members map[string]bool
	if w.members != nil {
		members, _ = w.members(o.class)
	}
	for i, k := range o.attrs.keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		key := prefix + name
		if len(key) > maxKeyLen {
			return fmt.Errorf("%w: key longer than %d bytes under %q", ErrUnsupported, maxKeyLen, prefix)
		}
		switch v := o.attrs.vals[i].(type) {
		case *tensorRef:
			if members != nil && !members[name] {
				continue // a plain attribute, not a parameter or buffer
			}
			if w.keys[key] {
				return fmt.Errorf("%w: duplicate key %q", ErrCorrupt, key)
			}
			w.keys[key] = true
			*refs = append(*refs, namedRef{key, v})
		case *pyObject:
			if isTorchScriptClass(v.class) && !w.seen[v] {
				if err := w.walk(v, key+".", depth+1, refs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// materialize reads tensor key as contiguous float32.
func (l *zipLoader) materialize(key string, r *tensorRef) (*Tensor, error) {
	s := r.storage
	if s.dtype == dtInvalid {
		return nil, fmt.Errorf("%w: tensor %q: storage type torch.%s", ErrUnsupported, key, s.class)
	}
	if len(r.shape) != len(r.stride) {
		return nil, fmt.Errorf("%w: tensor %q: size %v and stride %v differ in rank", ErrCorrupt, key, r.shape, r.stride)
	}
	// Element count, capped by the storage's.
	numel := int64(1)
	shape := make([]int, len(r.shape))
	for i, d := range r.shape {
		if d < 0 || r.stride[i] < 0 {
			return nil, fmt.Errorf("%w: tensor %q: negative size or stride (%v, %v)", ErrCorrupt, key, r.shape, r.stride)
		}
		if numel != 0 && d != 0 && numel > s.numel/d {
			return nil, fmt.Errorf("%w: tensor %q: size %v has more elements than its storage %q (%d); overlapping views are not supported", ErrCorrupt, key, r.shape, s.key, s.numel)
		}
		numel *= d
		shape[i] = int(d)
	}
	// Highest element touched: offset + Σ (size-1)·stride < storage numel.
	if r.offset < 0 {
		return nil, fmt.Errorf("%w: tensor %q: negative storage offset %d", ErrCorrupt, key, r.offset)
	}
	if numel > 0 {
		last := r.offset
		for i, d := range r.shape {
			st := r.stride[i]
			if d > 1 && st > 0 && (d-1 > (s.numel-1)/st || last > s.numel-1-(d-1)*st) {
				last = -1
				break
			}
			last += (d - 1) * st
		}
		if last < 0 || last >= s.numel {
			return nil, fmt.Errorf("%w: tensor %q: storage %q of %d elements too short for offset %d, size %v, stride %v", ErrCorrupt, key, s.key, s.numel, r.offset, r.shape, r.stride)
		}
	}
	if numel > l.budget {
		return nil, fmt.Errorf("%w: tensor %q: %d elements exceed what a file of %d bytes can hold (shared storages?)", ErrCorrupt, key, numel, l.src.Size())
	}
	l.budget -= numel

	name := l.prefix + "data/" + s.key
	f := l.files[name]
	if f == nil {
		return nil, fmt.Errorf("%w: tensor %q: zip entry %q missing (storage key %q)", ErrCorrupt, key, name, s.key)
	}
	b, err := l.entryBytes(f)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", key, err)
	}
	if int64(len(b))/int64(s.dtype.size()) < s.numel {
		return nil, fmt.Errorf("%w: tensor %q: zip entry %q holds %d bytes, storage of %d %s elements needs %d", ErrCorrupt, key, name, len(b), s.numel, s.class, s.numel*int64(s.dtype.size()))
	}
	stride := make([]int, len(r.stride))
	for i, st := range r.stride {
		if shape[i] > 1 { // strides of size-0/1 dimensions are never used
			stride[i] = int(st)
		}
	}
	if l.keepHalf && s.dtype == dtF16 {
		t := &Tensor{Shape: shape, Half: make([]uint16, numel)}
		gatherHalf(t.Half, b, int(r.offset), shape, stride)
		return t, nil
	}
	t := &Tensor{Shape: shape, Data: make([]float32, numel)}
	decodeStrided(t.Data, b, s.dtype, int(r.offset), shape, stride)
	return t, nil
}
