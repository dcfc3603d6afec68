package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
)

// argPack lays out kernel arguments in one byte block, each at its natural
// alignment, as cuLaunchKernel reads them through one pointer per argument.
type argPack struct {
	buf     []byte
	offsets []int
}

func (a *argPack) align(n int) {
	for len(a.buf)%n != 0 {
		a.buf = append(a.buf, 0)
	}
	a.offsets = append(a.offsets, len(a.buf))
}

// ptr adds a device pointer (CUdeviceptr, 8 bytes).
func (a *argPack) ptr(p uint64) *argPack {
	a.align(8)
	a.buf = binary.LittleEndian.AppendUint64(a.buf, p)
	return a
}

// i32 adds an int.
func (a *argPack) i32(v int) *argPack {
	a.align(4)
	a.buf = binary.LittleEndian.AppendUint32(a.buf, uint32(int32(v)))
	return a
}

// f32 adds a float.
func (a *argPack) f32(v float32) *argPack {
	a.align(4)
	a.buf = binary.LittleEndian.AppendUint32(a.buf, math.Float32bits(v))
	return a
}

// layout adds a Layout struct (see kernels.go: rank, then shape and the
// strides of up to three operands, all int, passed by value).
func (a *argPack) layout(l *layout) *argPack {
	a.align(4)
	a.buf = binary.LittleEndian.AppendUint32(a.buf, uint32(l.rank))
	for _, arr := range [...]*[maxRank]int32{&l.shape, &l.s0, &l.s1, &l.s2} {
		for _, v := range arr {
			a.buf = binary.LittleEndian.AppendUint32(a.buf, uint32(v))
		}
	}
	return a
}

// maxRank is MAX_RANK in the kernel source.
const maxRank = 8

// layout mirrors the kernels' struct Layout: an index space and up to three
// operands' strides (in elements) over it.
type layout struct {
	rank       int32
	shape      [maxRank]int32
	s0, s1, s2 [maxRank]int32
}

// makeLayout fills a layout for shape and up to three strides (a nil one
// stays zero).
func makeLayout(shape []int, strides ...[]int) (*layout, error) {
	if len(shape) > maxRank {
		return nil, fmt.Errorf("cuda: rank %d above %d", len(shape), maxRank)
	}
	l := &layout{rank: int32(len(shape))}
	dst := [...]*[maxRank]int32{&l.s0, &l.s1, &l.s2}
	for i, d := range shape {
		l.shape[i] = int32(d)
		for j, s := range strides {
			if s == nil {
				continue
			}
			if s[i] >= 1<<31 || s[i] <= -(1<<31) {
				return nil, fmt.Errorf("cuda: stride %d out of int range", s[i])
			}
			dst[j][i] = int32(s[i])
		}
	}
	return l, nil
}
