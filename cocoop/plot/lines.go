package plot

import (
	"math"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
}

// LinePlot draws series as lines with markers (lines only beyond 40
// points), on a log y axis when logY: points with y ≤ 0 cannot be drawn
// there and are left out. xTicks, if set, labels the x axis.
func LinePlot(title, xTitle, yTitle string, logY bool, series []Series, xTicks []gp.Tick) *gp.Plot {
	p := gp.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xTitle, yTitle
	p.Add(plotter.NewGrid())
	named := 0
	for i, s := range series {
		var xy plotter.XYs
		for k := range s.Y {
			if math.IsNaN(s.Y[k]) || (logY && s.Y[k] <= 0) {
				continue
			}
			xy = append(xy, plotter.XY{X: s.X[k], Y: s.Y[k]})
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			panic(err)
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		if len(xy) > 40 {
			p.Add(l)
		} else {
			p.Add(l, pts)
		}
		if s.Name != "" {
			p.Legend.Add(s.Name, l, pts)
			named++
		}
	}
	if logY {
		p.Y.Scale = gp.LogScale{}
		p.Y.Tick.Marker = scaleTicks{log: true}
	}
	legendRoom(p, logY, named)
	if xTicks != nil {
		p.X.Tick.Marker = gp.ConstantTicks(xTicks)
	}
	p.Legend.Top = true
	return p
}

// DotPlot draws one dot per named value (a Cleveland dot plot), on a log y
// axis when logY (values ≤ 0 left out); group[i] colours value i.
func DotPlot(title, yTitle string, logY bool, names []string, values []float64, group []int) *gp.Plot {
	p := gp.New()
	p.Title.Text = title
	p.Y.Label.Text = yTitle
	p.Add(plotter.NewGrid())
	byGroup := map[int]plotter.XYs{}
	var order []int
	for i, v := range values {
		if math.IsNaN(v) || (logY && v <= 0) {
			continue
		}
		g := 0
		if group != nil {
			g = group[i]
		}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], plotter.XY{X: float64(i), Y: v})
	}
	for _, g := range order {
		sc, err := plotter.NewScatter(byGroup[g])
		if err != nil {
			panic(err)
		}
		sc.Color = plotutil.Color(g)
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(4)
		p.Add(sc)
	}
	p.NominalX(names...)
	if longest(names) > 4 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	if logY {
		p.Y.Scale = gp.LogScale{}
		p.Y.Tick.Marker = scaleTicks{log: true}
	}
	return p
}

func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len([]rune(s)))
	}
	return n
}

// legendRoom raises the top of p's y axis so that the top-right legend of
// n entries sits above the data.
func legendRoom(p *gp.Plot, logY bool, n int) {
	if n == 0 {
		return
	}
	lo, hi := p.Y.Min, p.Y.Max
	if !(hi > lo) || (logY && lo <= 0) {
		return
	}
	f := min(0.5, 0.07*float64(n))
	if logY {
		p.Y.Max = hi * math.Pow(hi/lo, f/(1-f))
	} else {
		p.Y.Max = hi + (hi-lo)*f/(1-f)
	}
}

// scaleTicks labels an axis with Scale.Ticks, plus unlabelled ticks at
// every 1..9 × 10ⁿ on a log axis.
type scaleTicks struct{ log bool }

func (t scaleTicks) Ticks(lo, hi float64) []gp.Tick {
	s := Scale{Min: lo, Max: hi, Log: t.log}
	var out []gp.Tick
	vs := s.Ticks()
	if len(vs) > 3 { // an axis needs its ends labelled only where little else is
		vs = vs[1 : len(vs)-1]
	}
	for _, v := range vs {
		out = append(out, gp.Tick{Value: v, Label: FormatValue(v)})
	}
	if t.log {
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			for m := 2.0; m < 10; m++ {
				if v := m * math.Pow(10, e); v > lo && v < hi {
					out = append(out, gp.Tick{Value: v})
				}
			}
		}
	}
	return out
}
