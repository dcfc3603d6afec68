package data_test

import (
	"fmt"
	"os"

	"github.com/gocoop/gocoop/cocoop/data"
)

func ExampleWriteTable() {
	var rows []data.Result
	for _, d := range []struct {
		name  string
		seeds []data.SeedResult
	}{
		{"EuroSAT", []data.SeedResult{{Seed: 1, Base: 88, New: 44}, {Seed: 2, Base: 87, New: 75.4}, {Seed: 3, Base: 87.47, New: 60.72}}},
		{"OxfordPets", []data.SeedResult{{Seed: 1, Base: 95.2, New: 97.69}}},
	} {
		rows = append(rows, data.Summarize(d.name, "CoCoOp", d.seeds))
	}
	data.WriteTable(os.Stdout, rows)
	// Output:
	// | Dataset | Base | New | H |
	// |---|---|---|---|
	// | Average | 91.34 | 78.86 | 84.65 |
	// | EuroSAT | 87.49 | 60.04 | 71.21 |
	// | OxfordPets | 95.20 | 97.69 | 96.43 |
}

func ExampleTemplate() {
	fmt.Println(data.Prompt(data.Template("eurosat"), "Sea or Lake"))
	fmt.Println(data.EnsembleTemplates("ImageNet")[0])
	// Output:
	// a centered satellite photo of Sea or Lake.
	// itap of a {}.
}

func ExampleBaseNewCounts() {
	for _, n := range []int{37, 47, 100, 397} {
		b, nw := data.BaseNewCounts(n)
		fmt.Println(n, b, nw)
	}
	// Output:
	// 37 19 18
	// 47 24 23
	// 100 50 50
	// 397 199 198
}
