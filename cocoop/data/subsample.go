package data

import (
	"fmt"
	"sort"
)

// SubsampleClasses is CoOp's subsample_classes (docs/cocoop.md §3.2). mode "all"
// returns ds unchanged; otherwise the labels present in ds.Train are
// sorted, n of them, m = ceil(n/2): "base" keeps the first m, "new" the
// other n-m. Train, Val and Test are filtered to the kept labels and
// relabelled 0..k-1 in ascending original-label order; ClassNames is
// indexed by the new labels. Evaluation is within the split: Base accuracy
// is m-way, New accuracy (n-m)-way.
func SubsampleClasses(ds *Dataset, mode string) (*Dataset, error) {
	out := ds.clone()
	switch mode {
	case "all":
		return out, nil
	case "base", "new":
	default:
		return nil, fmt.Errorf("data: subsample mode %q: want \"all\", \"base\" or \"new\"", mode)
	}
	seen := map[int]bool{}
	var labels []int
	for _, d := range ds.Train {
		if !seen[d.Label] {
			seen[d.Label] = true
			labels = append(labels, d.Label)
		}
	}
	sort.Ints(labels)
	n := len(labels)
	m := (n + 1) / 2 // ceil(n/2)
	keep := labels[:m]
	if mode == "new" {
		keep = labels[m:]
	}
	relabel := make(map[int]int, len(keep))
	for i, l := range keep {
		relabel[l] = i
	}
	names := make([]string, len(keep))
	filter := func(items []Datum) []Datum {
		var res []Datum
		for _, d := range items {
			if nl, ok := relabel[d.Label]; ok {
				d.Label = nl
				res = append(res, d)
			}
		}
		return res
	}
	out.Train = filter(ds.Train)
	for _, d := range out.Train {
		names[d.Label] = d.ClassName
	}
	out.Val = filter(ds.Val)
	out.Test = filter(ds.Test)
	out.ClassNames = names
	return out, nil
}

// BaseNewCounts returns the number of base and new classes for n classes:
// ceil(n/2) and n - ceil(n/2).
func BaseNewCounts(n int) (base, new int) {
	m := (n + 1) / 2
	return m, n - m
}
