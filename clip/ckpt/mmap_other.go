//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ckpt

import "os"

// openSource opens path for reading through io.ReaderAt (no mmap on this
// platform); tensors are read piecewise, never the whole file at once.
func openSource(path string) (source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readerSource{r: f, size: st.Size(), close: f.Close}, nil
}
