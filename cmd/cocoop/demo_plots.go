package main

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	cplot "github.com/gocoop/gocoop/cocoop/plot"
)

// demoPlots writes the demo's figures into dir and returns their paths:
// base_new_h.png (Base, New and H per method, this run beside the paper)
// and training_curves.png (pretraining loss and zero-shot accuracy per
// epoch; CoOp's and CoCoOp's training loss per epoch, mean over seeds).
func demoPlots(dir string, res demoResults, reports map[string]*base2newReport, pre *pretrainReport) ([]string, error) {
	var paths []string
	err := catch(func() {
		// Base / New / H: two panels on one y scale.
		bars := func(title string, scores map[string]demoScore) *plot.Plot {
			p := plot.New()
			p.Title.Text = title
			p.Y.Label.Text = "accuracy (%)"
			p.Y.Min, p.Y.Max = 0, 125 // room above 100 for the legend
			p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 25, Label: "25"}, {Value: 50, Label: "50"},
				{Value: 75, Label: "75"}, {Value: 100, Label: "100"}})
			p.NominalX("Base", "New", "H")
			w := vg.Points(14)
			for i, dm := range demoMethods {
				s := scores[dm.key]
				b, err := plotter.NewBarChart(plotter.Values{s.Base, s.New, s.H}, w)
				if err != nil {
					panic(err)
				}
				b.Color = plotutil.Color(i)
				b.LineStyle.Width = 0
				b.Offset = vg.Length(i-1) * w
				p.Add(b)
				p.Legend.Add(methodLabel(dm.method), b)
			}
			p.Legend.Top = true
			p.Add(plotter.NewGrid())
			return p
		}
		chance := plotter.NewFunction(func(float64) float64 { return res.Chance })
		chance.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		chance.Color = color.Gray{Y: 100}
		ours := bars(fmt.Sprintf("this run: %s world, %d shots, %d seeds", res.World, res.Shots, len(res.Seeds)), res.Methods)
		ours.Add(chance)
		ours.Legend.Add(fmt.Sprintf("chance (%.1f%%)", res.Chance), chance)
		paper := bars("paper: ViT-B/16, mean of 11 datasets", res.Paper)
		paths = append(paths, saveTiles(filepath.Join(dir, "base_new_h.png"), [][]*plot.Plot{{ours, paper}}, 11*vg.Inch, 4.5*vg.Inch))

		// Training curves.
		line := func(p *plot.Plot, name string, i int, ys []float64) {
			xy := make(plotter.XYs, len(ys))
			for e, y := range ys {
				xy[e] = plotter.XY{X: float64(e + 1), Y: y}
			}
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				panic(err)
			}
			l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
			if len(ys) > 30 { // markers would hide the line
				p.Add(l)
			} else {
				p.Add(l, pts)
			}
			if name != "" {
				p.Legend.Add(name, l)
			}
		}
		curve := func(title, ylabel string) *plot.Plot {
			p := plot.New()
			p.Title.Text = title
			p.X.Label.Text = "epoch"
			p.Y.Label.Text = ylabel
			p.Add(plotter.NewGrid())
			return p
		}
		var loss, acc []float64
		for _, e := range pre.Epochs {
			loss = append(loss, e.Loss)
			acc = append(acc, e.ZeroShot)
		}
		pl := curve("pretraining: contrastive loss", "mean loss")
		line(pl, "", 0, loss)
		pa := curve("pretraining: zero-shot accuracy, all classes", "accuracy (%)")
		pa.Y.Min, pa.Y.Max = 0, 100
		line(pa, "", 1, acc)
		prompt := func(key, label string) *plot.Plot {
			p := curve(label+": training loss on the base classes", "mean cross-entropy")
			r := reports[key]
			if r == nil {
				return p
			}
			var sum []float64
			var n []int
			for _, s := range r.PerSeed {
				for _, e := range s.Epochs {
					for len(sum) < e.Epoch {
						sum, n = append(sum, 0), append(n, 0)
					}
					sum[e.Epoch-1] += e.Loss
					n[e.Epoch-1]++
				}
			}
			for e := range sum {
				if n[e] > 0 {
					sum[e] /= float64(n[e])
				}
			}
			line(p, fmt.Sprintf("mean of %d seeds", len(r.PerSeed)), 2, sum)
			return p
		}
		paths = append(paths, saveTiles(filepath.Join(dir, "training_curves.png"),
			[][]*plot.Plot{{pl, pa}, {prompt("coop", "CoOp"), prompt("cocoop", "CoCoOp")}}, 10*vg.Inch, 8*vg.Inch))
	})
	return paths, err
}

// saveTiles draws plots in a grid of rows and writes the PNG atomically
// (cocoop/plot.SaveTiles); it panics on error (demoPlots catches it).
func saveTiles(path string, rows [][]*plot.Plot, w, h vg.Length) string {
	if err := cplot.SaveTiles(path, rows, w, h); err != nil {
		panic(err)
	}
	return path
}
