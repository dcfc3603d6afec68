package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gocoop/gocoop/clip/ckpt"
)

// Intner is a source of uniform ints in [0, n). *tensor.RNG and
// *[PyRandom] implement it.
type Intner interface {
	Intn(n int) int
}

// SampleFewShot is Dassl's generate_fewshot_dataset on one list
// (docs/cocoop.md §3.1): items are grouped by label in order of first
// appearance; a label with at least k items contributes a sample of k drawn
// without replacement, in draw order, otherwise all its items in list order.
// k < 1 returns items unchanged.
//
// The draws follow CPython's random.sample algorithm exactly (the pool
// method when the group has at most 21 + 4^ceil(log4(3k)) items, the
// set-rejection method otherwise) with rng.Intn in place of _randbelow. So:
//
//   - with rng = [NewPyRandom](seed) the subset is the one Python's
//     random.seed(seed) + random.sample gives, i.e. Dassl's official
//     shot_K-seed_S subset, provided nothing else drew from Python's random
//     first (true when the split JSON exists) and the split lists are the
//     shipped ones;
//   - with rng = tensor.NewRNG(seed) the subset is deterministic in (k, seed,
//     split) but is NOT the official one: PCG draws differ from CPython's
//     MT19937. Pin the official subset with [LoadFewShotSubset] or use
//     [PyRandom].
func SampleFewShot(items []Datum, k int, rng Intner) []Datum {
	if k < 1 {
		return items
	}
	var order []int
	groups := map[int][]Datum{}
	for _, d := range items {
		if _, ok := groups[d.Label]; !ok {
			order = append(order, d.Label)
		}
		groups[d.Label] = append(groups[d.Label], d)
	}
	out := make([]Datum, 0, k*len(order))
	for _, l := range order {
		g := groups[l]
		if len(g) < k {
			out = append(out, g...)
			continue
		}
		for _, j := range pySample(len(g), k, rng) {
			out = append(out, g[j])
		}
	}
	return out
}

// pySample returns the indices CPython's random.sample(range(n), k) picks,
// drawing with rng.Intn as _randbelow.
func pySample(n, k int, rng Intner) []int {
	res := make([]int, k)
	setsize := 21
	if k > 5 {
		setsize += int(math.Pow(4, math.Ceil(math.Log(float64(k*3))/math.Log(4))))
	}
	if n <= setsize {
		pool := make([]int, n)
		for i := range pool {
			pool[i] = i
		}
		for i := range k {
			j := rng.Intn(n - i)
			res[i] = pool[j]
			pool[j] = pool[n-i-1]
		}
		return res
	}
	selected := make(map[int]bool, k)
	for i := range k {
		j := rng.Intn(n)
		for selected[j] {
			j = rng.Intn(n)
		}
		selected[j] = true
		res[i] = j
	}
	return res
}

// ValShots is the number of shots of the few-shot val split: min(k, 4).
func ValShots(k int) int { return min(k, 4) }

// FewShot returns ds with its k-shot train split and min(k, 4)-shot val
// split, drawn in that order from rng (one generator, as Dassl seeds
// Python's random once with cfg.SEED). ImageNet samples train only (its val
// is the test set); the ImageNet variants are returned unchanged; k < 1
// returns ds unchanged. Test is never sampled. See [SampleFewShot] for which
// rng reproduces the official subsets.
func FewShot(ds *Dataset, k int, rng Intner) *Dataset {
	out := ds.clone()
	if k < 1 || ds.evalOnly {
		return out
	}
	out.Train = SampleFewShot(ds.Train, k, rng)
	if !ds.valIsTest {
		out.Val = SampleFewShot(ds.Val, ValShots(k), rng)
	}
	return out
}

// subsetFile is the JSON form of a pinned few-shot subset.
type subsetFile struct {
	Train []json.RawMessage `json:"train"`
	Val   []json.RawMessage `json:"val,omitempty"`
}

// SaveFewShotSubset writes ds.Train and ds.Val (after [FewShot]) as a
// subset file for [LoadFewShotSubset]: {"train": [[path, label,
// classname], ...], "val": [...]}, paths relative to ds.Dir with "/"
// separators. ImageNet's val (its test set) is not written.
func SaveFewShotSubset(ds *Dataset, path string) error {
	enc := func(items []Datum) ([]json.RawMessage, error) {
		out := make([]json.RawMessage, len(items))
		for i, d := range items {
			rel, err := filepath.Rel(ds.Dir, d.ImPath)
			if err != nil {
				return nil, fmt.Errorf("data: subset: %s is not under %s", d.ImPath, ds.Dir)
			}
			b, err := json.Marshal([]any{filepath.ToSlash(rel), d.Label, d.ClassName})
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	var f subsetFile
	var err error
	if f.Train, err = enc(ds.Train); err != nil {
		return err
	}
	if !ds.valIsTest {
		if f.Val, err = enc(ds.Val); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	if err := ckpt.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("data: writing subset: %w", err)
	}
	return nil
}

// LoadFewShotSubset replaces ds's train (and val, when the file has a "val"
// list) by the items a subset file names, in the file's order: a JSON
// object {"train": [...], "val": [...]} whose entries are a path or a
// [path, label, classname] list (the split-file form; label and class name
// are then checked). A path is relative to ds.Dir, or an absolute path from
// another machine containing the dataset directory's name (everything up to
// "/<base of ds.Dir>/" is dropped), so Dassl's split_fewshot pickles can be
// pinned after a one-off export:
//
//	import json, pickle, sys  # run where Dassl is importable
//	d = pickle.load(open(sys.argv[1], "rb"))
//	json.dump({k: [[x.impath, x.label, x.classname] for x in v]
//	           for k, v in d.items()}, open(sys.argv[2], "w"))
//
// Every path must be an item of the matching split of ds.
func LoadFewShotSubset(ds *Dataset, path string) (*Dataset, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data: subset file %s does not exist", path)
		}
		return nil, fmt.Errorf("data: reading subset: %w", err)
	}
	var f subsetFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("data: subset file %s: %s", path, jsonErr(raw, err))
	}
	if f.Train == nil {
		return nil, fmt.Errorf("data: subset file %s: missing \"train\" list", path)
	}
	out := ds.clone()
	base := filepath.Base(ds.Dir)
	pick := func(key string, entries []json.RawMessage, from []Datum) ([]Datum, error) {
		byRel := make(map[string]int, len(from))
		for i, d := range from {
			if rel, err := filepath.Rel(ds.Dir, d.ImPath); err == nil {
				byRel[filepath.ToSlash(rel)] = i
			}
		}
		items := make([]Datum, len(entries))
		for i, e := range entries {
			var p string
			label, cname := -1, ""
			if err := json.Unmarshal(e, &p); err != nil {
				var perr error
				p, label, cname, perr = parseEntry(e)
				if perr != nil {
					return nil, fmt.Errorf("data: subset file %s: %s[%d]: expected a path or %v", path, key, i, perr)
				}
			}
			j, ok := matchRel(byRel, filepath.ToSlash(p), base)
			if !ok {
				return nil, fmt.Errorf("data: subset file %s: %s[%d]: %s is not in %s's %s split (paths are taken relative to %s)", path, key, i, p, ds.Name, key, ds.Dir)
			}
			d := from[j]
			if label >= 0 && (d.Label != label || d.ClassName != cname) {
				return nil, fmt.Errorf("data: subset file %s: %s[%d]: %s has label %d %q in the dataset, the subset says %d %q", path, key, i, p, d.Label, d.ClassName, label, cname)
			}
			items[i] = d
		}
		return items, nil
	}
	if out.Train, err = pick("train", f.Train, ds.Train); err != nil {
		return nil, err
	}
	if f.Val != nil && !ds.valIsTest {
		if out.Val, err = pick("val", f.Val, ds.Val); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// matchRel finds p in byRel, trying p as given and then the rest of p after
// each "/<base>/".
func matchRel(byRel map[string]int, p, base string) (int, bool) {
	if j, ok := byRel[strings.TrimPrefix(p, "./")]; ok {
		return j, true
	}
	sep := "/" + base + "/"
	for rest := "/" + p; ; {
		k := strings.Index(rest, sep)
		if k < 0 {
			return 0, false
		}
		rest = rest[k+len(sep)-1:]
		if j, ok := byRel[rest[1:]]; ok {
			return j, true
		}
	}
}
