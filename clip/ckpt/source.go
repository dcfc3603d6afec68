package ckpt

import (
	"fmt"
	"io"
)

// source is the content of a checkpoint file: a memory mapping, an
// in-memory buffer, or (where mmap is unavailable) an open file.
type source interface {
	io.ReaderAt
	Size() int64
	// slice returns the n bytes at off. Mapped and in-memory sources return
	// a view without copying; the view is valid until Close.
	slice(off, n int64) ([]byte, error)
	Close() error
}

// bytesSource is a source over a byte slice (a mapping or a buffer).
type bytesSource struct {
	b     []byte
	close func() error
}

func newBytesSource(b []byte) *bytesSource { return &bytesSource{b: b} }

func (s *bytesSource) Size() int64 { return int64(len(s.b)) }

func (s *bytesSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ckpt: negative offset %d", off)
	}
	if off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *bytesSource) slice(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > int64(len(s.b)) || n > int64(len(s.b))-off {
		return nil, fmt.Errorf("%w: range [%d, %d+%d) outside the file (%d bytes)", ErrCorrupt, off, off, n, len(s.b))
	}
	return s.b[off : off+n : off+n], nil
}

func (s *bytesSource) Close() error {
	if s.close == nil {
		return nil
	}
	c := s.close
	s.close, s.b = nil, nil
	return c()
}

// readerSource is a source over an io.ReaderAt; slice copies.
type readerSource struct {
	r     io.ReaderAt
	size  int64
	close func() error
}

func (s *readerSource) Size() int64 { return s.size }

func (s *readerSource) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

func (s *readerSource) slice(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("%w: range [%d, %d+%d) outside the file (%d bytes)", ErrCorrupt, off, off, n, s.size)
	}
	b := make([]byte, n)
	if _, err := s.r.ReadAt(b, off); err != nil && !(err == io.EOF && n == 0) {
		return nil, err
	}
	return b, nil
}

func (s *readerSource) Close() error {
	if s.close == nil {
		return nil
	}
	c := s.close
	s.close = nil
	return c()
}
