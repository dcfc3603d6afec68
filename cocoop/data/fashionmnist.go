package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// IDX is an array read from an IDX file (the MNIST format): unsigned
// bytes with their dimensions, row-major.
type IDX struct {
	Dims []int
	Data []byte
}

// maxIDXBytes bounds the data an IDX file may declare (1 GiB).
const maxIDXBytes = 1 << 30

// ReadIDX reads an IDX file of unsigned bytes (type code 0x08), gzipped or
// not (a .gz file is recognised by its content, not its name). It checks
// the magic number, the dimensions and that the data has exactly the
// declared length; errors name the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data: IDX file %s does not exist", path)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: IDX file %s: bad gzip stream: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	x, err := decodeIDX(r)
	if err != nil {
		return nil, fmt.Errorf("data: IDX file %s: %w", path, err)
	}
	return x, nil
}

// decodeIDX reads the IDX header and data from r.
func decodeIDX(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("truncated header (%v)", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("bad magic number % x: an IDX file starts with two zero bytes", magic)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("element type 0x%02x not supported (want 0x08, unsigned byte)", magic[2])
	}
	nd := int(magic[3])
	if nd == 0 {
		return nil, errors.New("zero dimensions")
	}
	hdr := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("truncated header: %d dimensions declared (%v)", nd, err)
	}
	x := &IDX{Dims: make([]int, nd)}
	total := 1
	for i := range nd {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		if d == 0 {
			return nil, fmt.Errorf("dimension %d is zero", i)
		}
		if uint64(total)*uint64(d) > maxIDXBytes {
			return nil, fmt.Errorf("dimensions %v... declare more than %d bytes", x.Dims[:i+1], maxIDXBytes)
		}
		x.Dims[i] = int(d)
		total *= int(d)
	}
	x.Data = make([]byte, total)
	if n, err := io.ReadFull(r, x.Data); err != nil {
		return nil, fmt.Errorf("truncated data: dimensions %v need %d bytes, got %d", x.Dims, total, n)
	}
	var extra [1]byte
	if n, _ := r.Read(extra[:]); n > 0 {
		return nil, fmt.Errorf("data longer than dimensions %v declare (%d bytes)", x.Dims, total)
	}
	return x, nil
}

// FashionMNISTDir is where Debian's dataset-fashion-mnist package puts the
// IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// The Fashion-MNIST registry name, dataset directory, image directory and
// split file: [ExportFashionMNIST] writes root/fashion_mnist/images/... and
// root/fashion_mnist/split_zhou_FashionMNIST.json, which
// Load("FashionMNIST", root) reads.
const (
	FashionMNISTName      = "FashionMNIST"
	FashionMNISTDataDir   = "fashion_mnist"
	FashionMNISTImageDir  = "images"
	FashionMNISTSplitFile = "split_zhou_FashionMNIST.json"
)

// fashionSynonyms are the caption words of each label; the first is the
// class name. Labels 0-4 are the base classes, 5-9 the new ones.
var fashionSynonyms = [][]string{
	{"t-shirt", "top", "tee"},
	{"trouser", "trousers", "pants", "jeans"},
	{"pullover", "sweater", "jumper"},
	{"dress", "gown", "frock"},
	{"coat", "jacket", "overcoat"},
	{"sandal", "flip-flop", "slipper"},
	{"shirt", "blouse", "button-down shirt"},
	{"sneaker", "trainer", "running shoe"},
	{"bag", "handbag", "purse"},
	{"ankle boot", "boot", "bootee"},
}

// The gap pair of Fashion-MNIST (both base classes): pullover and coat.
const fashionGapA, fashionGapB = 2, 4

// FashionTemplates are the 16 caption templates of Fashion-MNIST
// pretraining; "{}" is replaced by a class word.
var FashionTemplates = []string{
	"a photo of a {}.",
	"a blurry photo of a {}.",
	"a black and white photo of a {}.",
	"a low resolution photo of a {}.",
	"a photo of the {}.",
	"a close-up photo of a {}.",
	"a picture of a {}.",
	"an image of a {}.",
	"a grayscale image of a {}.",
	"a small photo of a {}.",
	"a product photo of a {}.",
	"a cropped photo of the {}.",
	"a photo of my {}.",
	"a photo of one {}.",
	"a good photo of a {}.",
	"a {}.",
}

// FashionClassNames returns the 10 Fashion-MNIST class names by label
// ("t-shirt", "trouser", ..., "ankle boot"): the downstream class names.
func FashionClassNames() []string {
	out := make([]string, len(fashionSynonyms))
	for i, s := range fashionSynonyms {
		out[i] = s[0]
	}
	return out
}

// FashionSynonyms returns the caption words of each label under design:
// with [CaptionsPlain] the class name and 2-3 synonyms; with [CaptionsGap]
// the base pair pullover and coat each also get the other's name, so
// "pullover" and "coat" describe both (their other synonyms stay apart).
func FashionSynonyms(design CaptionDesign) [][]string {
	out := make([][]string, len(fashionSynonyms))
	for i, s := range fashionSynonyms {
		out[i] = append([]string(nil), s...)
	}
	if design == CaptionsGap {
		a, b := out[fashionGapA], out[fashionGapB]
		out[fashionGapA] = append([]string{a[0], b[0]}, a[1:]...)
		out[fashionGapB] = append([]string{b[0], a[0]}, b[1:]...)
	}
	return out
}

// fashionCaptionWords caches FashionSynonyms by design.
var fashionCaptionWords = map[CaptionDesign][][]string{
	CaptionsGap:   FashionSynonyms(CaptionsGap),
	CaptionsPlain: FashionSynonyms(CaptionsPlain),
}

// FashionCaption returns a pretraining caption for an image of label: a
// uniform template of [FashionTemplates] filled with a uniform word of
// FashionSynonyms(design)[label]. label must be in [0, 9].
func FashionCaption(label int, design CaptionDesign, rng Intner) string {
	syn := fashionCaptionWords[CaptionsPlain][label]
	if design == CaptionsGap {
		syn = fashionCaptionWords[CaptionsGap][label]
	}
	t := FashionTemplates[rng.Intn(len(FashionTemplates))]
	return Prompt(t, syn[rng.Intn(len(syn))])
}

// FashionSplit is one split of Fashion-MNIST: N grey images of Rows×Cols
// bytes, one after the other, and their labels (0-9).
type FashionSplit struct {
	N, Rows, Cols int
	Pixels        []byte
	Labels        []byte
}

// Image returns image i as a grey image sharing the split's pixels.
func (s *FashionSplit) Image(i int) *image.Gray {
	n := s.Rows * s.Cols
	return &image.Gray{Pix: s.Pixels[i*n : (i+1)*n : (i+1)*n], Stride: s.Cols, Rect: image.Rect(0, 0, s.Cols, s.Rows)}
}

// FashionMNIST is the Fashion-MNIST dataset: the train split (60000
// images) for pretraining, the test split (10000) for evaluation.
type FashionMNIST struct {
	Dir         string
	Train, Test *FashionSplit
}

// fashionFiles are the IDX files of each split, without the optional .gz.
var fashionFiles = [2][2]string{
	{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
	{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
}

// ErrFashionMNISTMissing is wrapped by LoadFashionMNIST's error when an IDX
// file is missing.
var ErrFashionMNISTMissing = errors.New("Fashion-MNIST files missing")

// fashionInstallHint tells how to get the files.
const fashionInstallHint = "install Debian's package (sudo apt-get install dataset-fashion-mnist, which puts them in " + FashionMNISTDir + ") or pass the directory that holds them (--fashion-mnist DIR)"

// LoadFashionMNIST reads Fashion-MNIST's four IDX files
// (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each optionally with .gz) from dir, or from
// [FashionMNISTDir] when dir is "". A missing file gives an error saying
// how to install the Debian package.
func LoadFashionMNIST(dir string) (*FashionMNIST, error) {
	if dir == "" {
		dir = FashionMNISTDir
	}
	fm := &FashionMNIST{Dir: dir}
	for k, files := range fashionFiles {
		var paths [2]string
		for j, base := range files {
			p := filepath.Join(dir, base)
			if _, err := os.Stat(p); err != nil {
				p += ".gz"
				if _, err := os.Stat(p); err != nil {
					return nil, fmt.Errorf("data: %w: %s(.gz) not found in %s: %s", ErrFashionMNISTMissing, base, dir, fashionInstallHint)
				}
			}
			paths[j] = p
		}
		s, err := readFashionSplit(paths[0], paths[1])
		if err != nil {
			return nil, err
		}
		if k == 0 {
			fm.Train = s
		} else {
			fm.Test = s
		}
	}
	return fm, nil
}

// readFashionSplit reads and cross-checks one images/labels pair.
func readFashionSplit(imPath, labPath string) (*FashionSplit, error) {
	im, err := ReadIDX(imPath)
	if err != nil {
		return nil, err
	}
	if len(im.Dims) != 3 {
		return nil, fmt.Errorf("data: IDX file %s: dimensions %v, want 3 (images, rows, columns)", imPath, im.Dims)
	}
	lab, err := ReadIDX(labPath)
	if err != nil {
		return nil, err
	}
	if len(lab.Dims) != 1 {
		return nil, fmt.Errorf("data: IDX file %s: dimensions %v, want 1 (labels)", labPath, lab.Dims)
	}
	if lab.Dims[0] != im.Dims[0] {
		return nil, fmt.Errorf("data: Fashion-MNIST: %s has %d labels but %s has %d images", labPath, lab.Dims[0], imPath, im.Dims[0])
	}
	for i, l := range lab.Data {
		if l > 9 {
			return nil, fmt.Errorf("data: IDX file %s: label %d at index %d out of range [0, 9]", labPath, l, i)
		}
	}
	return &FashionSplit{N: im.Dims[0], Rows: im.Dims[1], Cols: im.Dims[2], Pixels: im.Data, Labels: lab.Data}, nil
}

// FashionMNISTConfig configures [ExportFashionMNIST].
type FashionMNISTConfig struct {
	Dir   string // IDX directory; "" means FashionMNISTDir
	Train int    // train images per class, the first of each class in the train file; 0 means 100
	Val   int    // val images per class, the next ones of the train file; 0 means 20
	Test  int    // test images per class from the test file; 0 means all (1000)
}

// fashionManifest is what an export of Fashion-MNIST depends on.
type fashionManifest struct {
	Format  string   `json:"format"`
	Source  string   `json:"source"`
	Train   int      `json:"train_per_class"`
	Val     int      `json:"val_per_class"`
	Test    int      `json:"test_per_class"`
	Classes []string `json:"classes"`
}

// ExportFashionMNIST writes Fashion-MNIST's downstream classification set
// in CoOp's layout under root: root/fashion_mnist/images/{train,test}/
// <index>.png (grey PNGs named by their index in the IDX file) and
// root/fashion_mnist/split_zhou_FashionMNIST.json, which
// Load("FashionMNIST", root) reads. Train and val are drawn from the train
// file, in file order; test from the test file. The 10 classes keep their
// labels, so SubsampleClasses gives labels 0-4 as base and 5-9 as new. It
// returns the dataset directory; like [ExportWorld] it writes beside the
// target, renames into place and keeps an identical export.
func ExportFashionMNIST(root string, cfg FashionMNISTConfig) (string, error) {
	if cfg.Train == 0 {
		cfg.Train = 100
	}
	if cfg.Val == 0 {
		cfg.Val = 20
	}
	if cfg.Train < 0 || cfg.Val < 0 || cfg.Test < 0 {
		return "", fmt.Errorf("data: Fashion-MNIST export: negative image count (train %d, val %d, test %d)", cfg.Train, cfg.Val, cfg.Test)
	}
	fm, err := LoadFashionMNIST(cfg.Dir)
	if err != nil {
		return "", err
	}
	names := FashionClassNames()
	src, _ := filepath.Abs(fm.Dir)
	man := fashionManifest{Format: "gocoop-fashion-mnist-1", Source: src, Train: cfg.Train, Val: cfg.Val, Test: cfg.Test, Classes: names}
	return exportCoOp(root, FashionMNISTDataDir, FashionMNISTImageDir, FashionMNISTSplitFile, names, man, func(emit emitFunc) error {
		taken := make([]int, len(names))
		for i := range fm.Train.N {
			l := int(fm.Train.Labels[i])
			split := ""
			switch {
			case taken[l] < cfg.Train:
				split = "train"
			case taken[l] < cfg.Train+cfg.Val:
				split = "val"
			default:
				continue
			}
			taken[l]++
			img := fm.Train.Image(i)
			if err := emit(split, fmt.Sprintf("train/%05d.png", i), l, func() image.Image { return img }); err != nil {
				return err
			}
		}
		for l, n := range taken {
			if n < cfg.Train+cfg.Val {
				return fmt.Errorf("data: Fashion-MNIST export: class %d (%s) has %d train images, %d asked for", l, names[l], n, cfg.Train+cfg.Val)
			}
		}
		clear(taken)
		for i := range fm.Test.N {
			l := int(fm.Test.Labels[i])
			if cfg.Test > 0 && taken[l] >= cfg.Test {
				continue
			}
			taken[l]++
			img := fm.Test.Image(i)
			if err := emit("test", fmt.Sprintf("test/%05d.png", i), l, func() image.Image { return img }); err != nil {
				return err
			}
		}
		return nil
	})
}
