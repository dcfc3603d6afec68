//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ckpt

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// openSource memory-maps path read-only. Empty files are returned as an
// empty in-memory source (a zero-length mapping is not allowed).
func openSource(path string) (source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return newBytesSource(nil), nil
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%s: %w: %d bytes do not fit in the address space", path, ErrUnsupported, size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &bytesSource{b: b, close: func() error { return unix.Munmap(b) }}, nil
}
