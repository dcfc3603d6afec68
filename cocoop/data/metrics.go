package data

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Accuracy is Dassl's top-1 accuracy in percent, 100·#(pred == label)/n
// (micro average, docs/cocoop.md §3.3); 0 for no items. It panics if the lengths
// differ.
func Accuracy(pred, labels []int) float64 {
	if len(pred) != len(labels) {
		panic(fmt.Sprintf("data: Accuracy: %d predictions for %d labels", len(pred), len(labels)))
	}
	if len(pred) == 0 {
		return 0
	}
	c := 0
	for i, p := range pred {
		if p == labels[i] {
			c++
		}
	}
	return 100 * float64(c) / float64(len(pred))
}

// HarmonicMean is H = 2·B·N/(B+N), 0 when B+N = 0.
func HarmonicMean(base, new float64) float64 {
	if base+new == 0 {
		return 0
	}
	return 2 * base * new / (base + new)
}

// SeedResult is one seed's Base and New accuracy (percent).
type SeedResult struct {
	Seed int     `json:"seed"`
	Base float64 `json:"base"`
	New  float64 `json:"new"`
}

// Result is one row of the base-to-new table: the means over seeds, H of
// the means, and the population standard deviations over seeds (numpy's
// np.std, as parse_test_res.py). Values keep full precision.
type Result struct {
	Dataset string       `json:"dataset"`
	Method  string       `json:"method,omitempty"`
	Seeds   []SeedResult `json:"seeds,omitempty"`
	Base    float64      `json:"base"`
	New     float64      `json:"new"`
	H       float64      `json:"h"`
	BaseStd float64      `json:"base_std"`
	NewStd  float64      `json:"new_std"`
}

// Summarize averages the seeds of one dataset: Base and New are the seed
// means and H = HarmonicMean(Base, New) of those means (not the mean of
// per-seed H).
func Summarize(dataset, method string, seeds []SeedResult) Result {
	r := Result{Dataset: dataset, Method: method, Seeds: append([]SeedResult(nil), seeds...)}
	b := make([]float64, len(seeds))
	n := make([]float64, len(seeds))
	for i, s := range seeds {
		b[i], n[i] = s.Base, s.New
	}
	r.Base, r.BaseStd = meanStd(b)
	r.New, r.NewStd = meanStd(n)
	r.H = HarmonicMean(r.Base, r.New)
	return r
}

func meanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var q float64
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	return m, math.Sqrt(q / float64(len(v)))
}

// Average is the table's average row: Base and New are the arithmetic
// means of the rows' Base and New, and H = HarmonicMean(Base_avg,
// New_avg), which is not the mean of the rows' H (docs/cocoop.md §3.3: the paper's
// 75.83 = H(80.47, 71.69), while the mean of per-dataset H is 75.44). Its
// Dataset is "Average" and its standard deviations are zero.
func Average(rows []Result) Result {
	r := Result{Dataset: "Average"}
	if len(rows) == 0 {
		return r
	}
	for _, x := range rows {
		r.Base += x.Base
		r.New += x.New
	}
	r.Base /= float64(len(rows))
	r.New /= float64(len(rows))
	r.H = HarmonicMean(r.Base, r.New)
	r.Method = rows[0].Method
	return r
}

// PaperOrder is the dataset order of the paper's Table 1 (after the
// average row), by registry name.
var PaperOrder = []string{"ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers",
	"Food101", "FGVCAircraft", "SUN397", "DescribableTextures", "EuroSAT", "UCF101"}

// WriteTable prints the paper's Table 1 rows as a Markdown table with two
// decimals: the average row first (when there are two rows or more), then
// rows in the given order.
//
//	| Dataset | Base | New | H |
//	|---|---|---|---|
//	| Average | 80.47 | 71.69 | 75.83 |
//	| ImageNet | 75.98 | 70.43 | 73.10 |
func WriteTable(w io.Writer, rows []Result) error {
	var sb strings.Builder
	sb.WriteString("| Dataset | Base | New | H |\n|---|---|---|---|\n")
	line := func(r Result) {
		fmt.Fprintf(&sb, "| %s | %.2f | %.2f | %.2f |\n", r.Dataset, r.Base, r.New, r.H)
	}
	if len(rows) > 1 {
		line(Average(rows))
	}
	for _, r := range rows {
		line(r)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
