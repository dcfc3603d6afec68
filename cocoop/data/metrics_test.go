package data

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestAccuracyAndH(t *testing.T) {
	if got := Accuracy([]int{1, 2, 3, 4}, []int{1, 0, 3, 0}); got != 50 {
		t.Fatalf("accuracy %v", got)
	}
	if Accuracy(nil, nil) != 0 {
		t.Fatal("empty accuracy")
	}
	for _, c := range []struct{ b, n, h float64 }{
		{80, 80, 80}, {0, 0, 0}, {100, 0, 0}, {95.20, 97.69, 96.43}, {75.98, 70.43, 73.10}, {33.41, 23.71, 27.74},
	} {
		if got := HarmonicMean(c.b, c.n); !near(got, c.h, 0.005) {
			t.Errorf("H(%v, %v) = %v, want %v", c.b, c.n, got, c.h)
		}
	}
}

// cocoopTable is the CoCoOp column of the paper's Table 1 (docs/cocoop.md §6.1).
var cocoopTable = []Result{
	{Dataset: "ImageNet", Base: 75.98, New: 70.43},
	{Dataset: "Caltech101", Base: 97.96, New: 93.81},
	{Dataset: "OxfordPets", Base: 95.20, New: 97.69},
	{Dataset: "StanfordCars", Base: 70.49, New: 73.59},
	{Dataset: "Flowers102", Base: 94.87, New: 71.75},
	{Dataset: "Food101", Base: 90.70, New: 91.29},
	{Dataset: "FGVCAircraft", Base: 33.41, New: 23.71},
	{Dataset: "SUN397", Base: 79.74, New: 76.86},
	{Dataset: "DTD", Base: 77.01, New: 56.00},
	{Dataset: "EuroSAT", Base: 87.49, New: 60.04},
	{Dataset: "UCF101", Base: 82.33, New: 73.45},
}

func TestAverageRow(t *testing.T) {
	rows := make([]Result, len(cocoopTable))
	meanH := 0.0
	for i, r := range cocoopTable {
		r.H = HarmonicMean(r.Base, r.New)
		rows[i] = r
		meanH += r.H / float64(len(rows))
	}
	avg := Average(rows)
	if !near(avg.Base, 80.47, 0.005) || !near(avg.New, 71.69, 0.005) || !near(avg.H, 75.83, 0.005) {
		t.Fatalf("average %+v, want 80.47 / 71.69 / 75.83", avg)
	}
	if !near(meanH, 75.44, 0.01) || near(avg.H, meanH, 0.1) {
		t.Fatalf("mean of H %v must be 75.44 and differ from H_avg %v", meanH, avg.H)
	}
	var sb strings.Builder
	if err := WriteTable(&sb, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sb.String(), "\n")
	if lines[0] != "| Dataset | Base | New | H |" || lines[2] != "| Average | 80.47 | 71.69 | 75.83 |" || lines[3] != "| ImageNet | 75.98 | 70.43 | 73.10 |" || len(lines) != 15 {
		t.Fatalf("table:\n%s", sb.String())
	}
}

func TestSummarize(t *testing.T) {
	// EuroSAT-like seed spread: H is taken on the seed means.
	seeds := []SeedResult{{1, 90, 44.0}, {2, 85, 75.4}, {3, 87, 69.4}}
	r := Summarize("EuroSAT", "CoCoOp", seeds)
	if !near(r.Base, 87.333333333, 1e-6) || !near(r.New, 62.933333333, 1e-6) {
		t.Fatalf("means %v %v", r.Base, r.New)
	}
	if want := HarmonicMean(r.Base, r.New); r.H != want {
		t.Fatalf("H %v, want H of means %v", r.H, want)
	}
	perSeed := 0.0
	for _, s := range seeds {
		perSeed += HarmonicMean(s.Base, s.New) / 3
	}
	if near(r.H, perSeed, 0.1) {
		t.Fatal("H of means should differ from mean of H here")
	}
	if !near(r.BaseStd, math.Sqrt((8.0/3*8.0/3+(7.0/3)*(7.0/3)+(1.0/3)*(1.0/3))/3), 1e-9) {
		t.Fatalf("population std %v", r.BaseStd)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.H != r.H || len(back.Seeds) != 3 {
		t.Fatalf("JSON round trip: %v %s", err, b)
	}
}

func TestTemplates(t *testing.T) {
	cases := map[string]string{
		"OxfordPets": "a photo of a {}, a type of pet.", "dtd": "a photo of a {}.",
		"describabletextures": "{} texture.", "EuroSAT": "a centered satellite photo of {}.",
		"Food101": "a photo of {}, a type of food.", "UCF101": "a photo of a person doing {}.",
		"ImageNetR": "a photo of a {}.", "ImageFolder": DefaultTemplate,
	}
	for n, want := range cases {
		if got := Template(n); got != want {
			t.Errorf("Template(%q) = %q, want %q", n, got, want)
		}
	}
	if got := Prompt(Template("UCF101"), "Apply_Eye_Makeup"); got != "a photo of a person doing Apply Eye Makeup." {
		t.Fatalf("prompt %q", got)
	}
	if len(TemplatesSelect) != 7 || len(EnsembleTemplates("ImageNet")) != 7 {
		t.Fatal("ImageNet ensemble must be the 7 select templates")
	}
	if e := EnsembleTemplates("EuroSAT"); len(e) != 8 || e[7] != "a centered satellite photo of {}." || e[0] != "itap of a {}." {
		t.Fatalf("EuroSAT ensemble %q", e)
	}
	for _, n := range Names() {
		if _, ok := templates[n]; !ok && n != "ImageFolder" {
			t.Errorf("no template for %s", n)
		}
	}
}
