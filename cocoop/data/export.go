package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// WriteSplit writes sp as a CoOp split file (the form [ReadSplit] reads):
// {"train": [...], "val": [...], "test": [...]}, one [impath, label,
// classname] entry a line, impath relative to prefix with "/" separators.
// Every item's path must lie under prefix.
func WriteSplit(path string, sp *Split, prefix string) error {
	var b bytes.Buffer
	b.WriteString("{")
	for k, key := range []string{"train", "val", "test"} {
		items := [][]Datum{sp.Train, sp.Val, sp.Test}[k]
		if k > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n %q: [", key)
		for i, d := range items {
			rel, err := filepath.Rel(prefix, d.ImPath)
			if err != nil || !filepath.IsLocal(rel) {
				return fmt.Errorf("data: split file %s: %s[%d]: %s is not under %s", path, key, i, d.ImPath, prefix)
			}
			e, err := json.Marshal([]any{filepath.ToSlash(rel), d.Label, d.ClassName})
			if err != nil {
				return fmt.Errorf("data: split file %s: %w", path, err)
			}
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n  ")
			b.Write(e)
		}
		b.WriteString("\n ]")
	}
	b.WriteString("\n}\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("data: writing split file: %w", err)
	}
	return nil
}

// manifestFile names the file, written last into an exported dataset
// directory, that records what was exported; an export whose manifest
// matches is not redone.
const manifestFile = "export.json"

// emitFunc adds one image to an export: split is "train", "val" or
// "test", rel the path under the image directory ("/" separated); img
// makes the image, on a worker goroutine (it must not depend on the order
// of the calls).
type emitFunc func(split, rel string, label int, img func() image.Image) error

// exportCoOp writes a dataset in CoOp's layout, root/dsDir/{imageDir/...,
// splitFile, export.json}, from the images gen emits, and returns the
// dataset directory. It writes into a temporary directory beside the
// target and renames it into place, so a reader sees either the previous
// export or the complete new one. When root/dsDir already holds an export
// with the same manifest, nothing is written; a root/dsDir that holds no
// manifest is never replaced.
func exportCoOp(root, dsDir, imageDir, splitFile string, classNames []string, manifest any, gen func(emit emitFunc) error) (string, error) {
	want, err := json.MarshalIndent(manifest, "", " ")
	if err != nil {
		return "", fmt.Errorf("data: export manifest: %w", err)
	}
	want = append(want, '\n')
	final := filepath.Join(root, dsDir)
	if got, err := os.ReadFile(filepath.Join(final, manifestFile)); err == nil && bytes.Equal(got, want) {
		if _, err := os.Stat(filepath.Join(final, splitFile)); err == nil {
			return final, nil
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("data: export: %w", err)
	}
	tmp, err := os.MkdirTemp(root, "."+dsDir+".tmp-")
	if err != nil {
		return "", fmt.Errorf("data: export: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	prefix := filepath.Join(tmp, imageDir)
	sp := &Split{ClassNames: classNames}
	dst := map[string]*[]Datum{"train": &sp.Train, "val": &sp.Val, "test": &sp.Test}
	madeDirs := map[string]bool{}
	type job struct {
		path string
		img  func() image.Image
	}
	jobs := make(chan job, 64)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				if err := writePNGFile(j.path, j.img()); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	emit := func(split, rel string, label int, img func() image.Image) error {
		list, ok := dst[split]
		if !ok {
			return fmt.Errorf("data: export: unknown split %q", split)
		}
		if label < 0 || label >= len(classNames) {
			return fmt.Errorf("data: export: %s: label %d out of range [0, %d)", rel, label, len(classNames))
		}
		p := filepath.Join(prefix, filepath.FromSlash(rel))
		if d := filepath.Dir(p); !madeDirs[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("data: export: %w", err)
			}
			madeDirs[d] = true
		}
		jobs <- job{p, img}
		*list = append(*list, Datum{ImPath: p, Label: label, ClassName: classNames[label]})
		return nil
	}
	err = gen(emit)
	close(jobs)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return "", err
	}
	if err := WriteSplit(filepath.Join(tmp, splitFile), sp, prefix); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestFile), want, 0o644); err != nil {
		return "", fmt.Errorf("data: export: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return "", fmt.Errorf("data: export: %w", err)
	}
	old := ""
	if _, err := os.Lstat(final); err == nil {
		if _, err := os.Stat(filepath.Join(final, manifestFile)); err != nil {
			return "", fmt.Errorf("data: export: %s exists and is not an earlier export (no %s): remove it or choose another root", final, manifestFile)
		}
		old = tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return "", fmt.Errorf("data: export: moving the previous export aside: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("data: export: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return "", fmt.Errorf("data: export: %w", err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return final, nil
}

// pngEncoder reuses its compressor between images (a fresh one per
// image costs more than encoding a small image).
var pngEncoder = &png.Encoder{BufferPool: &pngPool{}}

// pngPool is a png.EncoderBufferPool.
type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

// writePNGFile encodes img as a PNG file.
func writePNGFile(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("data: export: %w", err)
	}
	w := bufio.NewWriter(f)
	err = pngEncoder.Encode(w, img)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("data: export: writing %s: %w", path, err)
	}
	return nil
}
