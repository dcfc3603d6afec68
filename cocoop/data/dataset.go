package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Datum is one labelled image, as Dassl's Datum: the image path (the
// dataset's image directory joined with the split file's relative path),
// the 0-based label and the class name used in prompts.
type Datum struct {
	ImPath    string `json:"impath"`
	Label     int    `json:"label"`
	ClassName string `json:"classname"`
}

// Dataset is a loaded dataset: its splits and its class names by label.
type Dataset struct {
	Name       string   // registry name, e.g. "OxfordPets"
	Dir        string   // dataset directory (root joined with CoOp's dataset_dir)
	Train      []Datum  // Dassl's train_x
	Val        []Datum  // for ImageNet the same items as Test, as in CoOp
	Test       []Datum  //
	ClassNames []string // ClassNames[label]

	// valIsTest marks ImageNet, whose few-shot sampling draws train only;
	// evalOnly marks the ImageNet variants, which Dassl never subsamples.
	valIsTest, evalOnly bool
}

// NumClasses is the number of class names.
func (d *Dataset) NumClasses() int { return len(d.ClassNames) }

// clone copies the dataset header; the split slices are shared.
func (d *Dataset) clone() *Dataset {
	c := *d
	c.ClassNames = append([]string(nil), d.ClassNames...)
	return &c
}

// loader reads one dataset; root is the directory that holds the dataset
// folders (Dassl's DATASET.ROOT).
type loaderFunc func(root string) (*Dataset, error)

type entry struct {
	name string // canonical DATASET.NAME
	dir  string // CoOp's dataset_dir under root ("" for ImageFolder)
	load loaderFunc
}

// registry lists the datasets by Dassl's DATASET.NAME.
var registry = []entry{
	{"Caltech101", "caltech-101", jsonLoader("Caltech101", "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json")},
	{"OxfordPets", "oxford_pets", jsonLoader("OxfordPets", "oxford_pets", "images", "split_zhou_OxfordPets.json")},
	{"StanfordCars", "stanford_cars", jsonLoader("StanfordCars", "stanford_cars", "", "split_zhou_StanfordCars.json")},
	{"OxfordFlowers", "oxford_flowers", jsonLoader("OxfordFlowers", "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json")},
	{"Food101", "food-101", jsonLoader("Food101", "food-101", "images", "split_zhou_Food101.json")},
	{"FGVCAircraft", "fgvc_aircraft", loadFGVCAircraft},
	{"SUN397", "sun397", jsonLoader("SUN397", "sun397", "SUN397", "split_zhou_SUN397.json")},
	{"DescribableTextures", "dtd", jsonLoader("DescribableTextures", "dtd", "images", "split_zhou_DescribableTextures.json")},
	{"EuroSAT", "eurosat", jsonLoader("EuroSAT", "eurosat", "2750", "split_zhou_EuroSAT.json")},
	{"UCF101", "ucf101", jsonLoader("UCF101", "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json")},
	{"ImageNet", "imagenet", loadImageNet},
	{"ImageNetV2", "imagenetv2", loadImageNetV2},
	{"ImageNetSketch", "imagenet-sketch", variantLoader("ImageNetSketch", "imagenet-sketch", "images")},
	{"ImageNetA", "imagenet-adversarial", variantLoader("ImageNetA", "imagenet-adversarial", "imagenet-a")},
	{"ImageNetR", "imagenet-rendition", variantLoader("ImageNetR", "imagenet-rendition", "imagenet-r")},
	{"World", "world", jsonLoader("World", "world", "images", "split_zhou_World.json")},
	{"FashionMNIST", "fashion_mnist", jsonLoader("FashionMNIST", "fashion_mnist", "images", "split_zhou_FashionMNIST.json")},
	{"ImageFolder", "", loadImageFolder},
}

// Names returns the dataset names Load accepts, in registry order.
func Names() []string {
	out := make([]string, len(registry))
	for i, e := range registry {
		out[i] = e.name
	}
	return out
}

// CanonicalName returns the registry spelling of name (matched without
// regard to case), or an error listing the valid names.
func CanonicalName(name string) (string, error) {
	e, err := lookup(name)
	if err != nil {
		return "", err
	}
	return e.name, nil
}

func lookup(name string) (entry, error) {
	for _, e := range registry {
		if strings.EqualFold(e.name, name) {
			return e, nil
		}
	}
	return entry{}, fmt.Errorf("data: unknown dataset %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Load reads dataset name (Dassl's DATASET.NAME, any case) from root, the
// directory holding CoOp's dataset folders ($DATA: root/oxford_pets,
// root/imagenet, ...). root may also be the dataset folder itself when its
// base name is CoOp's dataset_dir. For "ImageFolder" root is the folder of
// class folders (see [LoadImageFolder]).
//
// Every image file is checked to exist (Dassl asserts it per Datum); the
// error counts the missing files and names the first few.
func Load(name, root string) (*Dataset, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return e.load(root)
}

// datasetDir resolves root/dir, accepting root itself when it already is
// the dataset directory.
func datasetDir(name, root, dir string) (string, error) {
	p := filepath.Join(root, dir)
	if isDir(p) {
		return p, nil
	}
	if filepath.Base(filepath.Clean(root)) == dir && isDir(root) {
		return root, nil
	}
	if !isDir(root) {
		return "", fmt.Errorf("data: %s: root directory %s does not exist", name, root)
	}
	return "", fmt.Errorf("data: %s: dataset directory %s does not exist (expected CoOp's layout: <root>/%s)", name, p, dir)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// maxMissing is how many missing paths an error names.
const maxMissing = 5

// checkFiles verifies concurrently that every item's image is a regular
// file (following symlinks), as Dassl's Datum asserts.
func checkFiles(name string, splits ...[]Datum) error {
	var all []string
	for _, s := range splits {
		for _, d := range s {
			all = append(all, d.ImPath)
		}
	}
	const workers = 32
	bad := make([]bool, len(all))
	var wg sync.WaitGroup
	chunk := (len(all) + workers - 1) / workers
	for lo := 0; lo < len(all); lo += chunk {
		hi := min(lo+chunk, len(all))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				st, err := os.Stat(all[i])
				bad[i] = err != nil || !st.Mode().IsRegular()
			}
		})
	}
	wg.Wait()
	var missing []string
	count := 0
	seen := map[string]bool{}
	for i, b := range bad {
		if !b || seen[all[i]] {
			continue
		}
		seen[all[i]] = true
		count++
		if len(missing) < maxMissing {
			missing = append(missing, all[i])
		}
	}
	if count == 0 {
		return nil
	}
	return fmt.Errorf("data: %s: %d of %d image files missing or not regular files (first: %s)",
		name, count, len(all), strings.Join(missing, ", "))
}

// listImages returns the non-hidden files of dir, sorted (Dassl's
// listdir_nohidden leaves them in os.listdir order; sorting makes the order
// independent of the filesystem). With extFilter only image extensions are
// kept. Directories are skipped; symlinks are followed.
func listImages(dir string, extFilter bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(filepath.Join(dir, n))
			if err == nil && st.IsDir() {
				continue
			}
		} else if e.IsDir() {
			continue
		}
		if extFilter && !imageExt[strings.ToLower(filepath.Ext(n))] {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// imageExt are the extensions ImageFolder accepts (torchvision's list,
// restricted to what clip.LoadImage decodes).
var imageExt = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true,
}

// subdirs returns the sorted non-hidden subdirectories of dir.
func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data: directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("data: reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() || (e.Type()&fs.ModeSymlink != 0 && isDir(filepath.Join(dir, e.Name()))) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// folderItems lists the images of the class folders of dir concurrently;
// folders[i] gets label labels[i] and name names[i]. Items come out folder
// by folder, in the given order.
func folderItems(dir string, folders []string, labels []int, names []string, extFilter bool) ([]Datum, error) {
	per := make([][]Datum, len(folders))
	errs := make([]error, len(folders))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, f := range folders {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := filepath.Join(dir, f)
			files, err := listImages(p, extFilter)
			if err != nil {
				errs[i] = err
				return
			}
			items := make([]Datum, len(files))
			for j, fn := range files {
				items[j] = Datum{ImPath: filepath.Join(p, fn), Label: labels[i], ClassName: names[i]}
			}
			per[i] = items
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	var out []Datum
	for _, p := range per {
		out = append(out, p...)
	}
	return out, nil
}
