package tensor

import (
	"fmt"
	"strings"
)

// ShapeError reports incompatible shapes for an op. Its message names the op
// and every shape involved, e.g.
//
//	tensor.Add: shapes [2 3] and [4 3] are not broadcastable
type ShapeError struct {
	Op     string  // op name, e.g. "Add" (printed as tensor.Add)
	Shapes [][]int // the offending shapes, in argument order
	Msg    string  // what is wrong, phrased to follow the shapes
}

// Error formats the op, the shapes and the message.
func (e *ShapeError) Error() string {
	var b strings.Builder
	if !strings.Contains(e.Op, ".") {
		b.WriteString("tensor.")
	}
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch len(e.Shapes) {
	case 0:
	case 1:
		fmt.Fprintf(&b, "shape %v ", fmtShape(e.Shapes[0]))
	default:
		b.WriteString("shapes ")
		for i, s := range e.Shapes {
			switch {
			case i == 0:
			case i == len(e.Shapes)-1:
				b.WriteString(" and ")
			default:
				b.WriteString(", ")
			}
			b.WriteString(fmtShape(s))
		}
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func fmtShape(s []int) string { return fmt.Sprint(s) }

// Catch recovers a panic carrying a *ShapeError (or any other error value)
// into *err; a panic with a non-error value is re-raised.
// Usage, at an API boundary:
//
//	func Forward(x *tensor.Tensor) (y *tensor.Tensor, err error) {
//		defer tensor.Catch(&err)
//		...
//	}
func Catch(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(error); ok {
		*err = e
		return
	}
	panic(r)
}

// Try runs f and returns what it panicked with as an error: the op's error
// itself (a *ShapeError, a *DeviceError, ...) or, for any other panic value
// (a model's input check panicking with a message), an error holding that
// value. It is the function form of Catch for API boundaries such as
// commands, where every failure must become a message.
func Try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	f()
	return nil
}

// numel is the product of shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// checkShape panics on negative dims and returns numel.
func checkShape(op string, shape []int) int {
	for _, d := range shape {
		if d < 0 {
			panic(&ShapeError{Op: op, Shapes: [][]int{cloneInts(shape)}, Msg: "has a negative dim"})
		}
	}
	return numel(shape)
}

// contiguousStrides returns row-major strides for shape.
func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

func isContiguous(shape, strides []int) bool {
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] == 1 {
			continue
		}
		if shape[i] == 0 {
			return true
		}
		if strides[i] != s {
			return false
		}
		s *= shape[i]
	}
	return true
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(op string, shape []int, axis int) int {
	r := len(shape)
	a := axis
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		panic(&ShapeError{Op: op, Shapes: [][]int{cloneInts(shape)},
			Msg: fmt.Sprintf("has no axis %d (rank %d)", axis, r)})
	}
	return a
}

func (t *Tensor) axis(op string, a int) int { return normAxis(op, t.shape, a) }

// BroadcastShapes returns the NumPy broadcast of two shapes: trailing dims
// are aligned and each pair must be equal or contain a 1.
func BroadcastShapes(a, b []int) ([]int, error) {
	out, ok := broadcastInto(make([]int, 0, max(len(a), len(b))), a, b)
	if !ok {
		return nil, &ShapeError{Op: "BroadcastShapes", Shapes: [][]int{cloneInts(a), cloneInts(b)},
			Msg: "are not broadcastable"}
	}
	return out, nil
}

// broadcastInto appends the broadcast of a and b to dst[:0] (pass a stack
// buffer to avoid allocating).
func broadcastInto(dst, a, b []int) ([]int, bool) {
	n := max(len(a), len(b))
	out := dst[:0]
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out = append(out, da)
		case da == 1:
			out = append(out, db)
		default:
			return nil, false
		}
	}
	return out, true
}

// broadcast is BroadcastShapes panicking with op's name. The result is
// appended to buf[:0].
func broadcast(op string, buf, a, b []int) []int {
	out, ok := broadcastInto(buf, a, b)
	if !ok {
		panic(&ShapeError{Op: op, Shapes: [][]int{cloneInts(a), cloneInts(b)}, Msg: "are not broadcastable"})
	}
	return out
}

// broadcastsTo reports whether src broadcasts to dst without changing dst.
func broadcastsTo(src, dst []int) bool {
	if len(src) > len(dst) {
		// Leading size-1 dims of src may be dropped.
		for _, d := range src[:len(src)-len(dst)] {
			if d != 1 {
				return false
			}
		}
		src = src[len(src)-len(dst):]
	}
	off := len(dst) - len(src)
	for i, d := range src {
		if d != 1 && d != dst[off+i] {
			return false
		}
	}
	return true
}
