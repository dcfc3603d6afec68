// Package plot draws the figures of GoCoOp's inspection and training data
// with gonum.org/v1/plot: heatmaps with a colour bar and the value written
// in each cell, per-row and logarithmic colour scales, small multiples,
// line and dot plots on log axes, and figures of several panels written
// atomically as PNG.
//
// The figures of a cocoop.GradInspection and a cocoop.GradHistory are
// ready-made (InspectionFigures, GradFlow); Heatmap, Figure and Scale build
// others. docs/gradient_flow.md shows each figure and what it shows.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/tensor"
)

// Scale maps values to [0, 1] for colour: linearly between Min and Max, or
// logarithmically (Log) for values that span decades.
type Scale struct {
	Min, Max float64
	Log      bool
}

// NewScale returns the Scale spanning the finite values of vs (only the
// positive ones when log). Where none are left the range is [0, 1] (log:
// [1, 10]); where all are one value v it is [v−1, v+1] (log: [v/10, 10v]).
func NewScale(vs []float64, log bool) Scale {
	s := Scale{Min: math.Inf(1), Max: math.Inf(-1), Log: log}
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || (log && v <= 0) {
			continue
		}
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	switch {
	case s.Min > s.Max && log:
		s.Min, s.Max = 1, 10
	case s.Min > s.Max:
		s.Min, s.Max = 0, 1
	case s.Min == s.Max && log:
		s.Min, s.Max = s.Min/10, s.Max*10
	case s.Min == s.Max:
		s.Min, s.Max = s.Min-1, s.Max+1
	}
	return s
}

// Norm maps v into [0, 1], clamping values outside the range. It returns
// NaN for NaN, and for v ≤ 0 on a log scale: such cells are drawn blank.
func (s Scale) Norm(v float64) float64 {
	if math.IsNaN(v) || (s.Log && v <= 0) {
		return math.NaN()
	}
	var t float64
	if s.Log {
		t = (math.Log10(v) - math.Log10(s.Min)) / (math.Log10(s.Max) - math.Log10(s.Min))
	} else {
		t = (v - s.Min) / (s.Max - s.Min)
	}
	return min(1, max(0, t))
}

// Ticks returns the labelled values of the scale's axis: every decade in
// range on a log scale (with 2× and 5× where it spans fewer than two
// decades), round steps of 1, 2 or 5 × 10ⁿ on a linear one. Both ends of
// the range are always among them, so that the colour bar says where it
// stops.
func (s Scale) Ticks() []float64 {
	var out []float64
	add := func(v float64) {
		for _, w := range out {
			if math.Abs(w-v) <= 1e-9*max(math.Abs(v), math.Abs(s.Max-s.Min)) {
				return
			}
		}
		out = append(out, v)
	}
	add(s.Min)
	if s.Log {
		lo, hi := math.Floor(math.Log10(s.Min)), math.Ceil(math.Log10(s.Max))
		mults := []float64{1}
		if math.Log10(s.Max/s.Min) < 2 {
			mults = []float64{1, 2, 5}
		}
		for e := lo; e <= hi; e++ {
			for _, m := range mults {
				if v := m * math.Pow(10, e); v > s.Min*(1+1e-9) && v < s.Max*(1-1e-9) {
					add(v)
				}
			}
		}
	} else {
		step := niceStep((s.Max - s.Min) / 5)
		for v := math.Ceil(s.Min/step) * step; v < s.Max-step/100; v += step {
			if v > s.Min+step/100 {
				add(math.Round(v/step) * step)
			}
		}
	}
	// Drop inner ticks crowding an end (their labels would overlap).
	inner := out[1:]
	out = out[:1]
	for _, v := range inner {
		if t := s.Norm(v); t > 0.06 && t < 0.94 {
			out = append(out, v)
		}
	}
	add(s.Max)
	return out
}

// niceStep rounds d up to 1, 2 or 5 × 10ⁿ.
func niceStep(d float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= d*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// FormatValue writes v with two significant digits, as short as it goes:
// 0.53, 0.012, 3.4e-5, 17, 1234 (whole numbers from 100 on).
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'g', 2, 64)
	if i := strings.IndexByte(s, 'e'); i >= 0 { // e-05 → e-5
		mant, exp := s[:i], s[i+1:]
		sign := ""
		if exp[0] == '-' || exp[0] == '+' {
			if exp[0] == '-' {
				sign = "-"
			}
			exp = exp[1:]
		}
		s = mant + "e" + sign + strings.TrimLeft(exp, "0")
	}
	return s
}

// Panel is what a Figure lays out: a *gonum.org/v1/plot.Plot, a *Heatmap,
// or anything else that draws itself into a canvas.
type Panel interface {
	Draw(c draw.Canvas)
}

// Figure is panels in a grid of Cols columns (0: all in one row) under an
// optional title, Width × Height in total.
type Figure struct {
	Title         string
	Cols          int
	Panels        []Panel
	Width, Height vg.Length
}

// Draw lays the panels out in c.
func (f *Figure) Draw(c draw.Canvas) {
	if f.Title != "" {
		st := titleStyle(14)
		h := st.Height(f.Title)
		c.FillText(st, vg.Point{X: c.Center().X, Y: c.Max.Y - h}, f.Title)
		c.Max.Y -= 1.6 * h
	}
	cols := f.Cols
	if cols <= 0 || cols > len(f.Panels) {
		cols = len(f.Panels)
	}
	if cols == 0 {
		return
	}
	rows := (len(f.Panels) + cols - 1) / cols
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, p := range f.Panels {
		p.Draw(t.At(c, i%cols, i/cols))
	}
}

// Save writes the figure as a PNG at path, atomically (a reader never sees
// a partial file).
func (f *Figure) Save(path string) error {
	img := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	if err := tensor.Try(func() { f.Draw(dc) }); err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	if err := ckpt.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// SaveTiles draws plots in a grid of rows, their axes aligned across the
// grid (gonum.org/v1/plot.Align), and writes the PNG at path atomically.
func SaveTiles(path string, rows [][]*gp.Plot, w, h vg.Length) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(rows), Cols: len(rows[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	if err := tensor.Try(func() {
		canvases := gp.Align(rows, t, dc)
		for i, row := range rows {
			for j, p := range row {
				p.Draw(canvases[i][j])
			}
		}
	}); err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	if err := ckpt.WriteFileAtomic(path, func(f io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(f)
		return err
	}); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
