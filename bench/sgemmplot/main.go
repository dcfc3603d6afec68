// Command sgemmplot draws the JSON written by bench/sgemm as one panel per
// core count: GFLOP/s of GoCoOp and OpenBLAS per CLIP shape, beside the
// machine's arithmetic peak on that many cores, measured here with
// asm.MeasurePeak (an FMA loop with no memory traffic) unless -peak gives
// it per core.
//
//	go run ./bench/sgemm -json sgemm.json
//	go run ./bench/sgemmplot -json sgemm.json -out docs/figures/sgemm.png
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gocoop/gocoop/asm"
	cplot "github.com/gocoop/gocoop/cocoop/plot"
)

// result is the part of bench/sgemm's JSON record used here.
type result struct {
	Shape    string  `json:"shape"`
	Cores    int     `json:"cores"`
	Tier     string  `json:"tier"`
	GoCoOp   float64 `json:"gocoop_gflops"`
	OpenBLAS float64 `json:"openblas_gflops"`
}

func main() {
	in := flag.String("json", "sgemm.json", "bench/sgemm's JSON output")
	out := flag.String("out", "sgemm.png", "PNG to write")
	tier := flag.String("tier", "avx512", "GoCoOp tier to draw")
	peak := flag.Float64("peak", 0, "peak GFLOP/s per core (0: measure with asm.MeasurePeak)")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var rs []result
	if err := json.Unmarshal(b, &rs); err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	var cores []int
	for _, r := range rs {
		if r.Tier == *tier && !slices.Contains(cores, r.Cores) {
			cores = append(cores, r.Cores)
		}
	}
	if len(cores) == 0 {
		log.Fatalf("%s has no %s records", *in, *tier)
	}
	slices.Sort(cores)
	var t asm.Tier
	found := false
	for _, st := range asm.SupportedTiers() {
		if st.String() == *tier {
			t, found = st, true
		}
	}
	if !found {
		log.Fatalf("tier %q is not supported here (%v)", *tier, asm.SupportedTiers())
	}
	var row []*plot.Plot
	for _, n := range cores {
		pk := *peak * float64(n)
		if *peak == 0 {
			f, err := asm.MeasurePeak(t, n, 200*time.Millisecond, 5)
			if err != nil {
				log.Fatal(err)
			}
			pk = f / 1e9
		}
		var names []string
		var gv, ov plotter.Values
		for _, r := range rs {
			if r.Tier == *tier && r.Cores == n {
				names = append(names, r.Shape)
				gv, ov = append(gv, r.GoCoOp), append(ov, r.OpenBLAS)
				fmt.Printf("%d core(s) %-16s GoCoOp %6.1f  OpenBLAS %6.1f  GoCoOp/peak %4.0f%%\n", n, r.Shape, r.GoCoOp, r.OpenBLAS, 100*r.GoCoOp/pk)
			}
		}
		how := "measured"
		if *peak > 0 {
			how = "given"
		}
		fmt.Printf("%d core(s): %s peak %.1f GFLOP/s (%s)\n", n, *tier, pk, how)
		p := plot.New()
		p.Title.Text = fmt.Sprintf("sgemm, %d core(s), %s tier", n, *tier)
		p.Y.Label.Text = "GFLOP/s"
		p.Y.Min, p.Y.Max = 0, max(pk, slices.Max(gv), slices.Max(ov))*1.3
		w := vg.Points(12)
		for i, s := range []struct {
			name string
			v    plotter.Values
		}{{"GoCoOp", gv}, {"OpenBLAS (numpy)", ov}} {
			bc, err := plotter.NewBarChart(s.v, w)
			if err != nil {
				log.Fatal(err)
			}
			bc.Color = plotutil.Color(i)
			bc.LineStyle.Width = 0
			bc.Offset = vg.Length(2*i-1) * w / 2
			p.Add(bc)
			p.Legend.Add(s.name, bc)
		}
		pl := plotter.NewFunction(func(float64) float64 { return pk })
		pl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		pl.Color = color.Gray{Y: 80}
		p.Add(pl)
		p.Legend.Add(fmt.Sprintf("FMA peak %.0f", pk), pl)
		p.Legend.Top = true
		p.NominalX(names...)
		p.X.Tick.Label.Rotation = 0.6
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
		p.Add(plotter.NewGrid())
		row = append(row, p)
	}
	if err := cplot.SaveTiles(*out, [][]*plot.Plot{row}, vg.Length(len(row))*6*vg.Inch, 4.5*vg.Inch); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", *out)
}
