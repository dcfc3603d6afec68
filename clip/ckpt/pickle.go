package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A small pickle virtual machine for torch checkpoints: protocols 0–5 minus
// the opcodes no torch writer emits (extension registry, out-of-band
// buffers, protocol-0 quoted strings). It builds plain Go values; no Python
// class is ever looked up or called. Known torch rebuild functions produce
// tensor descriptors (torch.go); every other class becomes a *pyObject.
//
// Values on the stack:
//
//	None → nil, bool, int64, *big.Int (beyond 64 bits), float64, string,
//	pyBytes, *pyTuple, *pyList, *pySet, *pyDict, *pyGlobal, *pyObject,
//	*storageRef, *tensorRef.
//
// All are comparable, so any can be a dict key.

type (
	pyTuple  struct{ items []any }
	pyList   struct{ items []any }
	pySet    struct{ items []any }
	pyBytes  string
	pyGlobal struct{ module, name string }
	// pyObject is an instance of a class we do not model: its constructor
	// arguments and the state BUILD gave it (attrs when the state is a dict).
	pyObject struct {
		class *pyGlobal
		args  *pyTuple
		attrs *pyDict
		state any
	}
)

// pyDict is an insertion-ordered dict.
type pyDict struct {
	keys, vals []any
	index      map[any]int
}

func newPyDict() *pyDict { return &pyDict{index: make(map[any]int)} }

func (d *pyDict) set(k, v any) {
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *pyDict) get(k any) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

func (g *pyGlobal) String() string { return g.module + "." + g.name }

// unpickler is the VM state.
type unpickler struct {
	data  []byte
	pos   int
	op    int // offset of the opcode being executed, for messages
	stack []any
	marks []int // stack heights at each MARK
	memo  map[uint64]any
	// persistentLoad resolves BINPERSID / PERSID ids; nil rejects them.
	persistentLoad func(pid any) (any, error)
}

// unpickle runs data to its STOP opcode and returns the value left on the
// stack.
func unpickle(data []byte, persistentLoad func(pid any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: make(map[uint64]any), persistentLoad: persistentLoad}
	return u.run()
}

func (u *unpickler) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: pickle: opcode 0x%02x at offset %d: %s", ErrCorrupt, u.data[u.op], u.op, fmt.Sprintf(format, args...))
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("needs %d bytes, %d left (truncated?)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readLen reads an n-byte little-endian length prefix and checks that many
// bytes remain.
func (u *unpickler) readLen(n int) (int, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	switch n {
	case 1:
		v = uint64(b[0])
	case 4:
		v = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		v = binary.LittleEndian.Uint64(b)
	}
	if v > uint64(len(u.data)-u.pos) {
		return 0, u.errorf("length %d exceeds the %d bytes left (truncated?)", v, len(u.data)-u.pos)
	}
	return int(v), nil
}

// readLine reads up to and excluding the next '\n' (protocol-0 arguments).
func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", u.errorf("unterminated line argument (truncated?)")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// base is the lowest stack index usable above the innermost MARK.
func (u *unpickler) base() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.base() {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns (a copy of) the items above the innermost MARK and
// removes them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// popN pops n items, returned bottom first.
func (u *unpickler) popN(n int) ([]any, error) {
	if len(u.stack)-u.base() < n {
		return nil, u.errorf("stack underflow")
	}
	items := append([]any(nil), u.stack[len(u.stack)-n:]...)
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for u.pos < len(u.data) {
		u.op = u.pos
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if err == errStop {
				v, err := u.pop()
				if err != nil {
					return nil, err
				}
				return v, nil
			}
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: pickle: no STOP opcode before offset %d (truncated?)", ErrCorrupt, len(u.data))
}

// errStop signals the STOP opcode.
var errStop = errors.New("stop")

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return u.errorf("unsupported pickle protocol %d", b[0])
		}
	case 0x95: // FRAME: framing is only a read hint
		if _, err := u.read(8); err != nil {
			return err
		}
	case '.': // STOP
		return errStop
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP (pops the mark when the frame is empty, as CPython)
		if len(u.stack) > u.base() {
			u.stack = u.stack[:len(u.stack)-1]
		} else if _, err := u.popMark(); err != nil {
			return err
		}
	case '1': // POP_MARK
		if _, err := u.popMark(); err != nil {
			return err
		}
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)

	case 'N': // NONE
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'K': // BININT1
		b, err := u.read(1)
		if err != nil {
			return err
		}
		u.push(int64(b[0]))
	case 'M': // BININT2
		b, err := u.read(2)
		if err != nil {
			return err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case 'J': // BININT
		b, err := u.read(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 0x8a, 0x8b: // LONG1, LONG4
		var n int
		var err error
		if op == 0x8a {
			n, err = u.readLen(1)
		} else {
			var b []byte
			if b, err = u.read(4); err == nil {
				if v := int32(binary.LittleEndian.Uint32(b)); v < 0 || int(v) > len(u.data)-u.pos {
					err = u.errorf("LONG4 length %d invalid", v)
				} else {
					n = int(v)
				}
			}
		}
		if err != nil {
			return err
		}
		b, _ := u.read(n)
		u.push(decodeLong(b))
	case 'I': // INT (protocol 0; "00"/"01" are bools)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		switch s {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			v, err := parseIntText(s)
			if err != nil {
				return u.errorf("INT %q: %v", s, err)
			}
			u.push(v)
		}
	case 'L': // LONG (protocol 0)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := parseIntText(strings.TrimSuffix(s, "L"))
		if err != nil {
			return u.errorf("LONG %q: %v", s, err)
		}
		u.push(v)
	case 'G': // BINFLOAT (big-endian double)
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F': // FLOAT (protocol 0)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errorf("FLOAT %q: %v", s, err)
		}
		u.push(v)

	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		width := 4
		switch op {
		case 0x8c, 'U':
			width = 1
		case 0x8d:
			width = 8
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, _ := u.read(n)
		u.push(string(b))
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		width := 4
		switch op {
		case 'C':
			width = 1
		case 0x8e, 0x96:
			width = 8
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, _ := u.read(n)
		u.push(pyBytes(b))
	case 'V': // UNICODE (raw-unicode-escape; only the escape-free form)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(rawUnicodeUnescape(s))

	case ')': // EMPTY_TUPLE
		u.push(&pyTuple{})
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyTuple{items})
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		items, err := u.popN(int(op-0x85) + 1)
		if err != nil {
			return err
		}
		u.push(&pyTuple{items})
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items})
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		var err error
		if op == 'a' {
			items, err = u.popN(1)
		} else {
			items, err = u.popMark()
		}
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		l, ok := t.(*pyList)
		if !ok {
			return u.errorf("append to %s", typeName(t))
		}
		l.items = append(l.items, items...)
	case '}': // EMPTY_DICT
		u.push(newPyDict())
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newPyDict()
		if err := u.setItems(d, items); err != nil {
			return err
		}
		u.push(d)
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		var err error
		if op == 's' {
			items, err = u.popN(2)
		} else {
			items, err = u.popMark()
		}
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return u.errorf("set item on %s", typeName(t))
		}
		return u.setItems(d, items)
	case 0x8f: // EMPTY_SET
		u.push(&pySet{})
	case 0x90: // ADDITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok {
			return u.errorf("add items to %s", typeName(t))
		}
		s.items = append(s.items, items...)
	case 0x91: // FROZENSET
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pySet{items})

	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(&pyGlobal{module, name})
	case 0x93: // STACK_GLOBAL
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		module, ok1 := items[0].(string)
		name, ok2 := items[1].(string)
		if !ok1 || !ok2 {
			return u.errorf("STACK_GLOBAL needs two strings, got %s and %s", typeName(items[0]), typeName(items[1]))
		}
		u.push(&pyGlobal{module, name})
	case 'R': // REDUCE
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		args, ok := items[1].(*pyTuple)
		if !ok {
			return u.errorf("REDUCE arguments are %s, not a tuple", typeName(items[1]))
		}
		v, err := u.call(items[0], args, 0)
		if err != nil {
			return err
		}
		u.push(v)
	case 0x81, 0x92: // NEWOBJ, NEWOBJ_EX (keyword arguments are dropped)
		n := 2
		if op == 0x92 {
			n = 3
		}
		items, err := u.popN(n)
		if err != nil {
			return err
		}
		args, ok := items[1].(*pyTuple)
		if !ok {
			return u.errorf("NEWOBJ arguments are %s, not a tuple", typeName(items[1]))
		}
		v, err := u.newObject(items[0], args)
		if err != nil {
			return err
		}
		u.push(v)
	case 'o': // OBJ: MARK cls args... OBJ
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return u.errorf("OBJ without a class")
		}
		v, err := u.newObject(items[0], &pyTuple{items[1:]})
		if err != nil {
			return err
		}
		u.push(v)
	case 'i': // INST: module\nname\n, MARK args... INST
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		items, err := u.popMark()
		if err != nil {
			return err
		}
		v, err := u.newObject(&pyGlobal{module, name}, &pyTuple{items})
		if err != nil {
			return err
		}
		u.push(v)
	case 'b': // BUILD
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		build(obj, state)

	case 'Q', 'P': // BINPERSID, PERSID
		var pid any
		var err error
		if op == 'Q' {
			pid, err = u.pop()
		} else {
			pid, err = u.readLine()
		}
		if err != nil {
			return err
		}
		if u.persistentLoad == nil {
			return u.errorf("persistent id without a loader")
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return u.errorf("%v", err)
		}
		u.push(v)

	case 'q', 'r', 'p', 0x94: // BINPUT, LONG_BINPUT, PUT, MEMOIZE
		var idx uint64
		switch op {
		case 'q', 'r':
			if op == 'q' {
				b, err := u.read(1)
				if err != nil {
					return err
				}
				idx = uint64(b[0])
			} else {
				b, err := u.read(4)
				if err != nil {
					return err
				}
				idx = uint64(binary.LittleEndian.Uint32(b))
			}
		case 'p':
			s, err := u.readLine()
			if err != nil {
				return err
			}
			if idx, err = strconv.ParseUint(s, 10, 64); err != nil {
				return u.errorf("PUT %q: %v", s, err)
			}
		case 0x94:
			idx = uint64(len(u.memo))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		u.memo[idx] = v
	case 'h', 'j', 'g': // BINGET, LONG_BINGET, GET
		var idx uint64
		switch op {
		case 'h':
			b, err := u.read(1)
			if err != nil {
				return err
			}
			idx = uint64(b[0])
		case 'j':
			b, err := u.read(4)
			if err != nil {
				return err
			}
			idx = uint64(binary.LittleEndian.Uint32(b))
		case 'g':
			s, err := u.readLine()
			if err != nil {
				return err
			}
			if idx, err = strconv.ParseUint(s, 10, 64); err != nil {
				return u.errorf("GET %q: %v", s, err)
			}
		}
		v, ok := u.memo[idx]
		if !ok {
			return u.errorf("memo key %d not set", idx)
		}
		u.push(v)
	case 0x98: // READONLY_BUFFER
		if _, err := u.top(); err != nil {
			return err
		}
	default: // EXT1/2/4, NEXT_BUFFER, STRING, PERSID variants, and garbage
		return u.unsupported()
	}
	return nil
}

func (u *unpickler) unsupported() error {
	op := u.data[u.op]
	name := fmt.Sprintf("0x%02x", op)
	if op >= 0x20 && op < 0x7f {
		name += fmt.Sprintf(" (%q)", rune(op))
	}
	return fmt.Errorf("%w: pickle: unknown or unsupported opcode %s at offset %d", ErrUnsupported, name, u.op)
}

// setItems stores key/value pairs into d.
func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.errorf("odd number of items (%d) for a dict", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

// builtinName returns the name of a builtins/__builtin__/collections class.
func builtinName(g *pyGlobal) string {
	switch g.module {
	case "builtins", "__builtin__":
		return g.name
	case "collections":
		if g.name == "OrderedDict" {
			return "dict"
		}
		if g.name == "defaultdict" { // its default factory is dropped
			return "defaultdict"
		}
	}
	return ""
}

// newObject instantiates cls(*args) for NEWOBJ/OBJ/INST.
func (u *unpickler) newObject(cls any, args *pyTuple) (any, error) {
	g, ok := cls.(*pyGlobal)
	if !ok {
		return nil, u.errorf("instantiating %s, not a class", typeName(cls))
	}
	switch builtinName(g) {
	case "dict", "defaultdict", "set", "frozenset", "list", "tuple":
		return u.call(g, args, 0)
	}
	return &pyObject{class: g, args: args}, nil
}

// call applies a REDUCE callable. Only data constructors and torch's rebuild
// functions are interpreted; any other global yields a generic object.
func (u *unpickler) call(fn any, args *pyTuple, depth int) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, u.errorf("calling %s, not a global", typeName(fn))
	}
	a := args.items
	switch builtinName(g) {
	case "defaultdict": // defaultdict(factory[, items]): an optimizer's state
		d := newPyDict()
		if len(a) > 1 {
			if err := u.fillDict(d, a[1]); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "dict":
		d := newPyDict()
		if len(a) > 0 {
			if err := u.fillDict(d, a[0]); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "set", "frozenset":
		s := &pySet{}
		if len(a) > 0 {
			s.items = iterItems(a[0])
		}
		return s, nil
	case "list":
		l := &pyList{}
		if len(a) > 0 {
			l.items = iterItems(a[0])
		}
		return l, nil
	case "tuple":
		t := &pyTuple{}
		if len(a) > 0 {
			t.items = iterItems(a[0])
		}
		return t, nil
	}
	switch g.module {
	case "torch._utils":
		switch g.name {
		case "_rebuild_tensor", "_rebuild_tensor_v2":
			return u.rebuildTensor(g, a)
		case "_rebuild_parameter", "_rebuild_parameter_with_state":
			if len(a) == 0 {
				return nil, u.errorf("%s without arguments", g)
			}
			return a[0], nil
		case "_rebuild_from_type_v2": // (func, type, args, state)
			if len(a) < 3 {
				return nil, u.errorf("%s needs 4 arguments, got %d", g, len(a))
			}
			inner, ok := a[2].(*pyTuple)
			if !ok {
				return nil, u.errorf("%s arguments are %s", g, typeName(a[2]))
			}
			if depth > 8 {
				return nil, u.errorf("%s nested too deeply", g)
			}
			return u.call(a[0], inner, depth+1)
		}
	case "torch.jit._pickle":
		switch g.name {
		case "restore_type_tag", "build_intlist", "build_doublelist", "build_boollist", "build_tensorlist":
			if len(a) == 0 {
				return nil, u.errorf("%s without arguments", g)
			}
			return a[0], nil
		}
	}
	return &pyObject{class: g, args: args}, nil
}

// fillDict fills d from a dict or an iterable of pairs.
func (u *unpickler) fillDict(d *pyDict, src any) error {
	if s, ok := src.(*pyDict); ok {
		for i, k := range s.keys {
			d.set(k, s.vals[i])
		}
		return nil
	}
	for _, it := range iterItems(src) {
		var pair []any
		switch p := it.(type) {
		case *pyTuple:
			pair = p.items
		case *pyList:
			pair = p.items
		}
		if len(pair) != 2 {
			return u.errorf("dict item is %s, not a pair", typeName(it))
		}
		d.set(pair[0], pair[1])
	}
	return nil
}

// iterItems returns the elements of a tuple, list, set or the keys of a dict.
func iterItems(v any) []any {
	switch v := v.(type) {
	case *pyTuple:
		return append([]any(nil), v.items...)
	case *pyList:
		return append([]any(nil), v.items...)
	case *pySet:
		return append([]any(nil), v.items...)
	case *pyDict:
		return append([]any(nil), v.keys...)
	}
	return nil
}

// build applies BUILD: a dict state sets an object's attributes (the
// TorchScript module tree); other states are kept or, on dicts and tensors
// (OrderedDict._metadata, tensor hooks), ignored.
func build(obj, state any) {
	o, ok := obj.(*pyObject)
	if !ok {
		return
	}
	dicts := []any{state}
	if t, ok := state.(*pyTuple); ok && len(t.items) == 2 { // (state, slotstate)
		dicts = t.items
	}
	merged := false
	for _, s := range dicts {
		d, ok := s.(*pyDict)
		if !ok {
			continue
		}
		if o.attrs == nil {
			o.attrs = newPyDict()
		}
		for i, k := range d.keys {
			o.attrs.set(k, d.vals[i])
		}
		merged = true
	}
	if !merged {
		o.state = state
	}
}

// decodeLong decodes a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if shift := 64 - 8*uint(len(b)); shift > 0 {
			return int64(v<<shift) >> shift // sign-extend
		}
		return int64(v)
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// rawUnicodeUnescape decodes Python's raw-unicode-escape: \uXXXX and
// \UXXXXXXXX escapes, every other byte is a Latin-1 code point.
func rawUnicodeUnescape(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32); err == nil && v <= 0x10ffff {
					b.WriteRune(rune(v))
					i += 1 + n
					continue
				}
			}
		}
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// parseIntText parses a protocol-0 decimal integer.
func parseIntText(s string) (any, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("not an integer")
	}
	return n, nil
}

// typeName describes a value for messages.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case *pyGlobal:
		return "global " + v.String()
	case *pyObject:
		return "object of " + v.class.String()
	case *pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pySet:
		return "set"
	case *pyDict:
		return "dict"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
