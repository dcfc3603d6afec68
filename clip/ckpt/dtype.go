package ckpt

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/gocoop/gocoop/asm"
)

// dtype is a stored element type; every one is converted to float32.
type dtype uint8

const (
	dtInvalid dtype = iota
	dtF32
	dtF16
	dtBF16
	dtF64
	dtI64
	dtI32
	dtI16
	dtI8
	dtU8
	dtBool
)

var dtypeInfo = [...]struct {
	name string // safetensors spelling
	size int
}{
	dtInvalid: {"?", 1},
	dtF32:     {"F32", 4},
	dtF16:     {"F16", 2},
	dtBF16:    {"BF16", 2},
	dtF64:     {"F64", 8},
	dtI64:     {"I64", 8},
	dtI32:     {"I32", 4},
	dtI16:     {"I16", 2},
	dtI8:      {"I8", 1},
	dtU8:      {"U8", 1},
	dtBool:    {"BOOL", 1},
}

func (d dtype) String() string { return dtypeInfo[d].name }

// size is the element size in bytes.
func (d dtype) size() int { return dtypeInfo[d].size }

// safetensorsDtype maps a safetensors dtype string to a dtype.
func safetensorsDtype(s string) (dtype, bool) {
	for d := dtF32; d <= dtBool; d++ {
		if dtypeInfo[d].name == s {
			return d, true
		}
	}
	return dtInvalid, false
}

// torchStorageDtype maps a torch storage class name (torch.<Name>) to a dtype.
func torchStorageDtype(name string) (dtype, bool) {
	switch name {
	case "FloatStorage":
		return dtF32, true
	case "HalfStorage":
		return dtF16, true
	case "BFloat16Storage":
		return dtBF16, true
	case "DoubleStorage":
		return dtF64, true
	case "LongStorage":
		return dtI64, true
	case "IntStorage":
		return dtI32, true
	case "ShortStorage":
		return dtI16, true
	case "CharStorage":
		return dtI8, true
	case "ByteStorage":
		return dtU8, true
	case "BoolStorage":
		return dtBool, true
	}
	return dtInvalid, false
}

// halfTable maps every IEEE binary16 bit pattern to float32.
var halfTable = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = asm.HalfToFloat32(uint16(i))
	}
	return &t
})

// decodeAt converts element i of src (a storage of dtype d) to float32.
func decodeAt(src []byte, d dtype, i int) float32 {
	switch d {
	case dtF32:
		return math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	case dtF16:
		return halfTable()[binary.LittleEndian.Uint16(src[2*i:])]
	case dtBF16:
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	case dtF64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
	case dtI64:
		return float32(int64(binary.LittleEndian.Uint64(src[8*i:])))
	case dtI32:
		return float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
	case dtI16:
		return float32(int16(binary.LittleEndian.Uint16(src[2*i:])))
	case dtI8:
		return float32(int8(src[i]))
	case dtU8:
		return float32(src[i])
	case dtBool:
		if src[i] != 0 {
			return 1
		}
		return 0
	}
	panic("ckpt: decodeAt on invalid dtype")
}

// decode converts len(dst) contiguous elements of dtype d from src, which
// must hold exactly len(dst)·d.size() bytes.
func decode(dst []float32, src []byte, d dtype) {
	if len(src) != len(dst)*d.size() {
		panic("ckpt: decode length mismatch")
	}
	switch d {
	case dtF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case dtF16:
		t := halfTable()
		for i := range dst {
			dst[i] = t[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case dtBF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	default:
		for i := range dst {
			dst[i] = decodeAt(src, d, i)
		}
	}
}

// decodeStrided gathers the elements of a strided view of a storage into
// contiguous row-major dst: element (i0, i1, ...) is
// storage[offset + Σ ik·stride[k]]. The caller has checked that every index
// lies inside src and that len(dst) is the product of shape.
func decodeStrided(dst []float32, src []byte, d dtype, offset int, shape, stride []int) {
	if len(dst) == 0 {
		return
	}
	if isContiguous(shape, stride) {
		sz := d.size()
		decode(dst, src[offset*sz:(offset+len(dst))*sz], d)
		return
	}
	stridedPositions(len(dst), offset, shape, stride, func(i, pos int) { dst[i] = decodeAt(src, d, pos) })
}

// gatherHalf is decodeStrided for an F16 storage kept as binary16 bits.
func gatherHalf(dst []uint16, src []byte, offset int, shape, stride []int) {
	if isContiguous(shape, stride) { // the usual case (the OpenAI release): one pass
		for i, b := 0, src[2*offset:]; i < len(dst); i++ {
			dst[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return
	}
	stridedPositions(len(dst), offset, shape, stride, func(i, pos int) { dst[i] = binary.LittleEndian.Uint16(src[2*pos:]) })
}

// stridedPositions calls f(i, pos) for the first n elements of a strided
// view in row-major order, pos = offset + Σ ik·stride[k] (an odometer,
// last dimension fastest).
func stridedPositions(n, offset int, shape, stride []int, f func(i, pos int)) {
	idx := make([]int, len(shape))
	pos := offset
	for i := 0; i < n; i++ {
		f(i, pos)
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			pos += stride[k]
			if idx[k] < shape[k] {
				break
			}
			pos -= stride[k] * shape[k]
			idx[k] = 0
		}
	}
}

// isContiguous reports whether stride is the row-major stride of shape
// (dimensions of size 1 may have any stride).
func isContiguous(shape, stride []int) bool {
	want := 1
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] != 1 && stride[k] != want {
			return false
		}
		want *= shape[k]
	}
	return true
}
