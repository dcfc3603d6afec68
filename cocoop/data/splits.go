package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// jsonLoader returns the loader of a dataset shipped with a
// split_zhou_<Name>.json (CoOp's read_split): entries are joined to
// dataset_dir/imageDir, or to dataset_dir itself when imageDir is ""
// (StanfordCars).
func jsonLoader(name, dir, imageDir, splitFile string) loaderFunc {
	return func(root string) (*Dataset, error) {
		dsDir, err := datasetDir(name, root, dir)
		if err != nil {
			return nil, err
		}
		prefix := dsDir
		if imageDir != "" {
			prefix = filepath.Join(dsDir, imageDir)
		}
		sp, err := ReadSplit(filepath.Join(dsDir, splitFile), prefix)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		if err := checkFiles(name, sp.Train, sp.Val, sp.Test); err != nil {
			return nil, err
		}
		return &Dataset{Name: name, Dir: dsDir, Train: sp.Train, Val: sp.Val, Test: sp.Test, ClassNames: sp.ClassNames}, nil
	}
}

// Split is the content of a split_zhou_*.json file.
type Split struct {
	Train, Val, Test []Datum
	ClassNames       []string // by label
}

// ReadSplit reads a CoOp split file, {"train": [...], "val": [...],
// "test": [...]} with entries [relative_impath, label, classname], joining
// each path to prefix. It checks the entry shapes (errors give the split,
// the entry index and what was expected) and that labels are 0..n-1 with
// one class name per label and one label per class name. It does not check
// that the files exist.
func ReadSplit(path, prefix string) (*Split, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("split file %s does not exist", path)
		}
		return nil, fmt.Errorf("reading split file: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("split file %s: %s", path, jsonErr(raw, err))
	}
	sp := &Split{}
	dst := map[string]*[]Datum{"train": &sp.Train, "val": &sp.Val, "test": &sp.Test}
	ck := newLabelCheck(path)
	for _, key := range []string{"train", "val", "test"} {
		msg, ok := top[key]
		if !ok {
			return nil, fmt.Errorf("split file %s: missing key %q (expected an object with \"train\", \"val\" and \"test\" lists)", path, key)
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(msg, &entries); err != nil {
			return nil, fmt.Errorf("split file %s: %q: expected a list of [impath, label, classname] entries: %v", path, key, err)
		}
		items := make([]Datum, len(entries))
		for i, e := range entries {
			rel, label, cname, err := parseEntry(e)
			if err != nil {
				return nil, fmt.Errorf("split file %s: %s[%d]: %v", path, key, i, err)
			}
			where := fmt.Sprintf("%s[%d]", key, i)
			if err := ck.add(where, label, cname); err != nil {
				return nil, err
			}
			items[i] = Datum{ImPath: filepath.Join(prefix, filepath.FromSlash(rel)), Label: label, ClassName: cname}
		}
		*dst[key] = items
	}
	if err := ck.finish(); err != nil {
		return nil, err
	}
	sp.ClassNames = ck.names()
	return sp, nil
}

// parseEntry decodes one [impath (string), label (int), classname
// (string)] entry.
func parseEntry(e json.RawMessage) (string, int, string, error) {
	const want = "expected [impath (string), label (int), classname (string)]"
	var parts []json.RawMessage
	if err := json.Unmarshal(e, &parts); err != nil || len(parts) != 3 {
		return "", 0, "", fmt.Errorf("%s, got %s", want, short(e))
	}
	var rel, cname string
	if err := json.Unmarshal(parts[0], &rel); err != nil || rel == "" {
		return "", 0, "", fmt.Errorf("%s: impath is %s", want, short(parts[0]))
	}
	var num json.Number
	dec := json.NewDecoder(bytes.NewReader(parts[1]))
	dec.UseNumber()
	if err := dec.Decode(&num); err != nil {
		return "", 0, "", fmt.Errorf("%s: label is %s", want, short(parts[1]))
	}
	f, err := strconv.ParseFloat(num.String(), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return "", 0, "", fmt.Errorf("%s: label is %s", want, short(parts[1]))
	}
	if err := json.Unmarshal(parts[2], &cname); err != nil {
		return "", 0, "", fmt.Errorf("%s: classname is %s", want, short(parts[2]))
	}
	return rel, int(f), cname, nil
}

// short abbreviates a JSON value for an error message.
func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// jsonErr adds the line and column to a JSON syntax error.
func jsonErr(raw []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := int(min(se.Offset, int64(len(raw))))
		line := 1 + bytes.Count(raw[:off], []byte("\n"))
		col := off - bytes.LastIndexByte(raw[:off], '\n')
		return fmt.Sprintf("malformed JSON at line %d, column %d: %v", line, col, err)
	}
	return fmt.Sprintf("malformed JSON (expected an object with \"train\", \"val\" and \"test\" lists): %v", err)
}

// labelCheck verifies that labels and class names correspond one to one
// and that the labels are 0..n-1.
type labelCheck struct {
	src    string
	byLab  map[int]string
	labWh  map[int]string
	byName map[string]int
	nameWh map[string]string
	maxLab int
	maxWh  string
}

func newLabelCheck(src string) *labelCheck {
	return &labelCheck{src: src, byLab: map[int]string{}, labWh: map[int]string{}, byName: map[string]int{}, nameWh: map[string]string{}, maxLab: -1}
}

func (c *labelCheck) add(where string, label int, name string) error {
	if label < 0 {
		return fmt.Errorf("%s: %s: label %d is negative", c.src, where, label)
	}
	if n, ok := c.byLab[label]; ok && n != name {
		return fmt.Errorf("%s: %s: label %d has class name %q but %s gave it %q", c.src, where, label, name, c.labWh[label], n)
	}
	if l, ok := c.byName[name]; ok && l != label {
		return fmt.Errorf("%s: %s: class name %q has label %d but %s gave it label %d", c.src, where, name, label, c.nameWh[name], l)
	}
	if _, ok := c.byLab[label]; !ok {
		c.byLab[label], c.labWh[label] = name, where
		c.byName[name], c.nameWh[name] = label, where
	}
	if label > c.maxLab {
		c.maxLab, c.maxWh = label, where
	}
	return nil
}

func (c *labelCheck) finish() error {
	if n := len(c.byLab); c.maxLab >= n {
		return fmt.Errorf("%s: %s: label %d out of range: %d class names give labels 0..%d", c.src, c.maxWh, c.maxLab, n, n-1)
	}
	return nil
}

func (c *labelCheck) names() []string {
	out := make([]string, len(c.byLab))
	for l, n := range c.byLab {
		out[l] = n
	}
	return out
}

// loadFGVCAircraft follows CoOp's fgvc_aircraft.py: class names are the
// lines of variants.txt and labels their line order (not sorted); each line
// "<image id> <variant words>" of images_variant_{train,val,test}.txt gives
// images/<id>.jpg.
func loadFGVCAircraft(root string) (*Dataset, error) {
	const name = "FGVCAircraft"
	dsDir, err := datasetDir(name, root, "fgvc_aircraft")
	if err != nil {
		return nil, err
	}
	var classes []string
	lab := map[string]int{}
	vpath := filepath.Join(dsDir, "variants.txt")
	err = readLines(vpath, func(ln int, line string) error {
		if _, dup := lab[line]; dup {
			return fmt.Errorf("data: %s: %s:%d: variant %q listed twice", name, vpath, ln, line)
		}
		lab[line] = len(classes)
		classes = append(classes, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	imageDir := filepath.Join(dsDir, "images")
	read := func(split string) ([]Datum, error) {
		p := filepath.Join(dsDir, "images_variant_"+split+".txt")
		var items []Datum
		err := readLines(p, func(ln int, line string) error {
			id, variant, ok := strings.Cut(line, " ")
			if !ok || variant == "" {
				return fmt.Errorf("data: %s: %s:%d: expected \"<image id> <variant>\", got %q", name, p, ln, line)
			}
			l, ok := lab[variant]
			if !ok {
				return fmt.Errorf("data: %s: %s:%d: variant %q is not in %s", name, p, ln, variant, vpath)
			}
			items = append(items, Datum{ImPath: filepath.Join(imageDir, id+".jpg"), Label: l, ClassName: variant})
			return nil
		})
		return items, err
	}
	ds := &Dataset{Name: name, Dir: dsDir, ClassNames: classes}
	if ds.Train, err = read("train"); err != nil {
		return nil, err
	}
	if ds.Val, err = read("val"); err != nil {
		return nil, err
	}
	if ds.Test, err = read("test"); err != nil {
		return nil, err
	}
	if err := checkFiles(name, ds.Train, ds.Val, ds.Test); err != nil {
		return nil, err
	}
	return ds, nil
}

// readLines calls fn with each non-blank line of path, trimmed of
// surrounding white space (Python's line.strip()), and its 1-based number.
func readLines(path string, fn func(ln int, line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data: file %s does not exist", path)
		}
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ln := 0
	for sc.Scan() {
		ln++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := fn(ln, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("data: reading %s: %w", path, err)
	}
	return nil
}

// ClassMap is ImageNet's classnames.txt: wnids in file order and their
// names.
type ClassMap struct {
	WNIDs []string
	Names map[string]string
}

// ReadClassNames reads a classnames.txt of lines "<wnid> <name words>"
// (CoOp's ImageNet.read_classnames: the first space separates the wnid from
// the name) in file order.
func ReadClassNames(path string) (*ClassMap, error) {
	m := &ClassMap{Names: map[string]string{}}
	err := readLines(path, func(ln int, line string) error {
		parts := strings.Split(line, " ")
		wnid, cname := parts[0], strings.Join(parts[1:], " ")
		if _, dup := m.Names[wnid]; dup {
			return fmt.Errorf("data: %s:%d: wnid %q listed twice", path, ln, wnid)
		}
		m.WNIDs = append(m.WNIDs, wnid)
		m.Names[wnid] = cname
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// folderDataset reads class folders of dir labelled by their position in
// folders, with names from cm.
func folderDataset(name, dir string, folders []string, cm *ClassMap, cmPath string) ([]Datum, []string, error) {
	labels := make([]int, len(folders))
	names := make([]string, len(folders))
	for i, f := range folders {
		n, ok := cm.Names[f]
		if !ok {
			return nil, nil, fmt.Errorf("data: %s: folder %s is not in %s", name, filepath.Join(dir, f), cmPath)
		}
		labels[i], names[i] = i, n
	}
	items, err := folderItems(dir, folders, labels, names, false)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return items, names, nil
}

// loadImageNet follows CoOp's imagenet.py: images/{train,val}/<wnid>/*,
// label = position of the wnid in the sorted folder list, names from
// classnames.txt, val used as test (and as val). The train and val folders
// must hold the same wnids. Images are every non-hidden file of a class
// folder, sorted by name (Dassl keeps os.listdir order). CoOp's
// preprocessed.pkl cache is not read.
func loadImageNet(root string) (*Dataset, error) {
	const name = "ImageNet"
	dsDir, err := datasetDir(name, root, "imagenet")
	if err != nil {
		return nil, err
	}
	cmPath := filepath.Join(dsDir, "classnames.txt")
	cm, err := ReadClassNames(cmPath)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	trainDir := filepath.Join(dsDir, "images", "train")
	valDir := filepath.Join(dsDir, "images", "val")
	tf, err := subdirs(trainDir)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	vf, err := subdirs(valDir)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if strings.Join(tf, " ") != strings.Join(vf, " ") {
		return nil, fmt.Errorf("data: %s: %s has %d class folders and %s has %d, or they differ: labels would not match", name, trainDir, len(tf), valDir, len(vf))
	}
	train, names, err := folderDataset(name, trainDir, tf, cm, cmPath)
	if err != nil {
		return nil, err
	}
	test, _, err := folderDataset(name, valDir, vf, cm, cmPath)
	if err != nil {
		return nil, err
	}
	return &Dataset{Name: name, Dir: dsDir, Train: train, Val: test, Test: test, ClassNames: names, valIsTest: true}, nil
}

// loadImageNetV2 follows CoOp's imagenetv2.py: folder str(i) of
// imagenetv2-matched-frequency-format-val holds class i, the i-th entry of
// classnames.txt in file order. Train and Test are the same items.
func loadImageNetV2(root string) (*Dataset, error) {
	const name = "ImageNetV2"
	dsDir, err := datasetDir(name, root, "imagenetv2")
	if err != nil {
		return nil, err
	}
	cm, err := ReadClassNames(filepath.Join(dsDir, "classnames.txt"))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	imDir := filepath.Join(dsDir, "imagenetv2-matched-frequency-format-val")
	if !isDir(imDir) {
		return nil, fmt.Errorf("data: %s: image directory %s does not exist", name, imDir)
	}
	folders := make([]string, len(cm.WNIDs))
	labels := make([]int, len(cm.WNIDs))
	names := make([]string, len(cm.WNIDs))
	for i, w := range cm.WNIDs {
		folders[i], labels[i], names[i] = strconv.Itoa(i), i, cm.Names[w]
	}
	items, err := folderItems(imDir, folders, labels, names, false)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return &Dataset{Name: name, Dir: dsDir, Train: items, Test: items, ClassNames: names, evalOnly: true}, nil
}

// variantLoader reads ImageNet-Sketch/-A/-R (CoOp's imagenet_sketch.py,
// imagenet_a.py, imagenet_r.py): label = position of the wnid folder in the
// sorted list of folders present (200 for -A/-R), names from
// classnames.txt. Train and Test are the same items.
func variantLoader(name, dir, imageDir string) loaderFunc {
	return func(root string) (*Dataset, error) {
		dsDir, err := datasetDir(name, root, dir)
		if err != nil {
			return nil, err
		}
		cmPath := filepath.Join(dsDir, "classnames.txt")
		cm, err := ReadClassNames(cmPath)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		imDir := filepath.Join(dsDir, imageDir)
		folders, err := subdirs(imDir)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		items, names, err := folderDataset(name, imDir, folders, cm, cmPath)
		if err != nil {
			return nil, err
		}
		return &Dataset{Name: name, Dir: dsDir, Train: items, Test: items, ClassNames: names, evalOnly: true}, nil
	}
}

// loadImageFolder is the "ImageFolder" registry entry.
func loadImageFolder(root string) (*Dataset, error) { return LoadImageFolder(root) }

// LoadImageFolder reads a plain folder of class folders. If dir has any of
// the subfolders train, val, test, each present one is a split of class
// folders; otherwise dir's class folders form the test split. Classes are
// the sorted union of class folder names, labelled by position; class names
// are the folder names (prompts replace "_" by a space). Only files with
// image extensions (.jpg .jpeg .png .gif .bmp .tif .tiff .webp, any case)
// are read.
func LoadImageFolder(dir string) (*Dataset, error) {
	const name = "ImageFolder"
	if !isDir(dir) {
		return nil, fmt.Errorf("data: %s: directory %s does not exist", name, dir)
	}
	splitDirs := map[string]string{}
	for _, s := range []string{"train", "val", "test"} {
		if p := filepath.Join(dir, s); isDir(p) {
			splitDirs[s] = p
		}
	}
	if len(splitDirs) == 0 {
		splitDirs["test"] = dir
	}
	classSet := map[string]bool{}
	perSplit := map[string][]string{}
	for s, p := range splitDirs {
		folders, err := subdirs(p)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		perSplit[s] = folders
		for _, f := range folders {
			classSet[f] = true
		}
	}
	classes := make([]string, 0, len(classSet))
	for c := range classSet {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: %s: no class folders in %s", name, dir)
	}
	lab := map[string]int{}
	for i, c := range classes {
		lab[c] = i
	}
	ds := &Dataset{Name: name, Dir: dir, ClassNames: classes}
	dst := map[string]*[]Datum{"train": &ds.Train, "val": &ds.Val, "test": &ds.Test}
	for s, p := range splitDirs {
		folders := perSplit[s]
		labels := make([]int, len(folders))
		for i, f := range folders {
			labels[i] = lab[f]
		}
		items, err := folderItems(p, folders, labels, folders, true)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, err)
		}
		*dst[s] = items
	}
	return ds, nil
}
