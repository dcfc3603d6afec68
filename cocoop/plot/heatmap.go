package plot

import (
	"image/color"
	"math"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Heatmap is a matrix drawn as coloured cells, row 0 at the top, with a
// colour bar at its right. Cells whose value is NaN, or ≤ 0 on a log scale,
// are drawn light grey.
type Heatmap struct {
	Title, XTitle, YTitle string
	// Z[r][c] is the value of row r, column c; rows may be shorter than
	// the longest (the rest is blank).
	Z                [][]float64
	XLabels, YLabels []string
	// Log colours by log₁₀ of the value.
	Log bool
	// Scale, if set, fixes the colour range (small multiples share one);
	// otherwise it spans Z.
	Scale *Scale
	// RowScale gives every row its own colour range, from 0 (or the row's
	// smallest value, if negative) to the row's largest: the colour bar
	// then reads "fraction of the row's largest value". Write the values
	// (Values) so that rows can still be compared.
	RowScale bool
	// Values writes each cell's value in it (FormatValue), where it fits.
	Values bool
	// BarTitle labels the colour bar.
	BarTitle string
}

// colors is the sequential colour map of heatmaps: dark violet through
// blue and green to yellow, its lightness rising monotonically (viridis'
// end and quarter points, interpolated by moreland.NewLuminance). Neither
// end is white or black, so a cell never vanishes into the background.
func colors() palette.ColorMap {
	m, err := moreland.NewLuminance([]color.Color{
		color.NRGBA{0x44, 0x01, 0x54, 0xff}, color.NRGBA{0x3b, 0x52, 0x8b, 0xff}, color.NRGBA{0x21, 0x91, 0x8c, 0xff},
		color.NRGBA{0x5e, 0xc9, 0x62, 0xff}, color.NRGBA{0xfd, 0xe7, 0x25, 0xff}})
	if err != nil {
		panic(err)
	}
	m.SetMin(0)
	m.SetMax(1)
	return m
}

var blank = color.Gray{Y: 235}

// rowScale is the colour scale of row r.
func (h *Heatmap) rowScale(r int, whole Scale) Scale {
	if !h.RowScale {
		return whole
	}
	if !h.Log { // from 0 to the row's largest value
		s := NewScale(append([]float64{0}, h.Z[r]...), false)
		if s.Min < 0 {
			s = NewScale(h.Z[r], false)
		}
		return s
	}
	return NewScale(h.Z[r], true)
}

// scale is the colour range of the whole map (of the bar, with RowScale).
func (h *Heatmap) scale() Scale {
	switch {
	case h.RowScale:
		return Scale{Min: 0, Max: 1}
	case h.Scale != nil:
		return *h.Scale
	}
	var all []float64
	for _, row := range h.Z {
		all = append(all, row...)
	}
	return NewScale(all, h.Log)
}

func (h *Heatmap) cols() int {
	n := len(h.XLabels)
	for _, row := range h.Z {
		n = max(n, len(row))
	}
	return n
}

// Plots returns the map and its colour bar as two plots.
func (h *Heatmap) Plots() (main, bar *gp.Plot) {
	whole := h.scale()
	rows, cols := len(h.Z), h.cols()
	main = gp.New()
	main.Title.Text = h.Title
	main.X.Label.Text, main.Y.Label.Text = h.XTitle, h.YTitle
	main.Add(&cells{h: h, whole: whole})
	main.X.Min, main.X.Max = -0.5, float64(cols)-0.5
	main.Y.Min, main.Y.Max = -0.5, float64(rows)-0.5
	var xt, yt []gp.Tick
	long := false
	for c, l := range h.XLabels {
		xt = append(xt, gp.Tick{Value: float64(c), Label: l})
		long = long || len([]rune(l)) > 8
	}
	for r, l := range h.YLabels {
		yt = append(yt, gp.Tick{Value: float64(rows - 1 - r), Label: l})
	}
	main.X.Tick.Marker, main.Y.Tick.Marker = gp.ConstantTicks(xt), gp.ConstantTicks(yt)
	if long {
		main.X.Tick.Label.Rotation = math.Pi / 4
		main.X.Tick.Label.XAlign, main.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	main.X.Padding, main.Y.Padding = 0, 0

	bar = gp.New()
	bar.HideX()
	bar.Add(colorBar{})
	bar.Y.Min, bar.Y.Max = 0, 1
	bar.Y.Padding = 0
	bar.Y.Label.Text = h.BarTitle
	if h.RowScale && h.BarTitle == "" {
		bar.Y.Label.Text = "fraction of the row's largest value"
	}
	var bt []gp.Tick
	for _, v := range whole.Ticks() {
		bt = append(bt, gp.Tick{Value: whole.Norm(v), Label: FormatValue(v)})
	}
	bar.Y.Tick.Marker = gp.ConstantTicks(bt)
	if h.Title != "" { // line the bar up with the map under the title
		bar.Title.Text = " "
		bar.Title.TextStyle = main.Title.TextStyle
	}
	return main, bar
}

// Draw draws the map into the left of c and its colour bar into the right.
func (h *Heatmap) Draw(c draw.Canvas) {
	main, bar := h.Plots()
	w := min(vg.Inch*1.3, (c.Max.X-c.Min.X)*0.3)
	mc, bc := c, c
	mc.Max.X = c.Max.X - w
	bc.Min.X = mc.Max.X + vg.Millimeter*2
	// The bar's bottom sits at the map's lowest cell: leave room for the
	// tick labels under the map.
	bc.Min.Y += bottomExtent(main, mc)
	main.Draw(mc)
	bar.Draw(bc)
}

// bottomExtent is the height under the data area of p drawn into c.
func bottomExtent(p *gp.Plot, c draw.Canvas) vg.Length {
	da := p.DataCanvas(c)
	return da.Min.Y - c.Min.Y
}

// cells is the Plotter of a Heatmap's cells.
type cells struct {
	h     *Heatmap
	whole Scale
}

func (cl *cells) Plot(c draw.Canvas, p *gp.Plot) {
	h := cl.h
	tx, ty := p.Transforms(&c)
	cm := colors()
	rows := len(h.Z)
	for r, row := range h.Z {
		s := h.rowScale(r, cl.whole)
		y := float64(rows - 1 - r)
		for col, v := range row {
			x0, x1 := tx(float64(col)-0.5), tx(float64(col)+0.5)
			y0, y1 := ty(y-0.5), ty(y+0.5)
			fill := color.Color(blank)
			if t := s.Norm(v); !math.IsNaN(t) {
				if cc, err := cm.At(t); err == nil {
					fill = cc
				}
			}
			c.FillPolygon(fill, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
			if !h.Values {
				continue
			}
			txt := FormatValue(v)
			size := min(vg.Points(9), (y1-y0)*0.5, (x1-x0)/(0.62*vg.Length(max(1, len(txt)))))
			if size < vg.Points(4.5) {
				continue
			}
			st := textStyle(size)
			st.Color = color.Black
			if luminance(fill) < 0.45 {
				st.Color = color.White
			}
			c.FillText(st, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, txt)
		}
	}
}

func (cl *cells) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(cl.h.cols()) - 0.5, -0.5, float64(len(cl.h.Z)) - 0.5
}

// colorBar draws the colour map from 0 (bottom) to 1 (top) over x ∈ [0, 1].
type colorBar struct{}

func (colorBar) Plot(c draw.Canvas, p *gp.Plot) {
	tx, ty := p.Transforms(&c)
	cm := colors()
	const n = 128
	for i := range n {
		t := (float64(i) + 0.5) / n
		cc, err := cm.At(t)
		if err != nil {
			continue
		}
		y0, y1 := ty(float64(i)/n), ty(float64(i+1)/n)
		c.FillPolygon(cc, []vg.Point{{X: tx(0), Y: y0}, {X: tx(1), Y: y0}, {X: tx(1), Y: y1}, {X: tx(0), Y: y1}})
	}
}

func (colorBar) DataRange() (xmin, xmax, ymin, ymax float64) { return 0, 1, 0, 1 }

var _ gp.Plotter = colorBar{}
var _ gp.DataRanger = (*cells)(nil)

// luminance is the relative luminance of c in [0, 1] (sRGB, linearised).
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		x := float64(v) / 0xffff
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// textStyle is the plots' default font at size, centred.
func textStyle(size vg.Length) text.Style {
	st := gp.New().Title.TextStyle
	st.Font.Size = size
	st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
	return st
}

// titleStyle is a figure title's style.
func titleStyle(size float64) text.Style {
	st := textStyle(vg.Points(size))
	st.YAlign = draw.YBottom
	return st
}
