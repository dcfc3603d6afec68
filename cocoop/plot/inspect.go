package plot

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/tensor"
)

// cell is the drawn size of one heatmap cell.
const cell = 0.5 * vg.Inch

// layerNames labels n layers "block 0".."block n−1".
func layerNames(n int) []string {
	out := make([]string, n)
	for l := range out {
		out[l] = "block " + strconv.Itoa(l)
	}
	return out
}

// EOTAttention shows what class c's EOT token reads from the prompt in
// every layer for image i: the attention of the EOT query to each position
// (head mean) beside gradient × attention there, each row (layer) on its
// own colour scale with the values written in the cells.
func EOTAttention(g *cocoop.GradInspection, i, c int) *Figure {
	cl := &g.Images[i].Classes[c]
	att := &Heatmap{Title: "EOT attention (mean of heads)", XTitle: "key position (token)", YTitle: "layer",
		Z: cl.EOTAttention, XLabels: cl.Tokens, YLabels: layerNames(len(cl.EOTAttention)), RowScale: true, Values: true}
	ga := &Heatmap{Title: "gradient × attention, max(0, ∂loss/∂P × P)", XTitle: "key position (token)", YTitle: "layer",
		Z: cl.EOTGradAttention, XLabels: cl.Tokens, YLabels: layerNames(len(cl.EOTGradAttention)), RowScale: true, Values: true}
	n := len(cl.Tokens)
	return &Figure{
		Title:  fmt.Sprintf("image %d, class %q (p = %.2f): the EOT row of each layer's attention; each row on its own colour scale", i, cl.Name, cl.Prob),
		Panels: []Panel{att, ga},
		Width:  2 * (vg.Length(n)*cell + 2.6*vg.Inch), Height: vg.Length(len(cl.EOTAttention))*cell*0.8 + 3*vg.Inch,
	}
}

// EOTAttentionHeads is EOTAttention per head: one panel per head (small
// multiples), layers × positions, on one log colour scale for all heads.
func EOTAttentionHeads(g *cocoop.GradInspection, i, c int) *Figure {
	cl := &g.Images[i].Classes[c]
	if len(cl.EOTAttentionHeads) == 0 {
		return &Figure{Width: vg.Inch, Height: vg.Inch}
	}
	heads := len(cl.EOTAttentionHeads[0])
	var all []float64
	for _, l := range cl.EOTAttentionHeads {
		for _, h := range l {
			all = append(all, h...)
		}
	}
	s := NewScale(all, true)
	f := &Figure{Title: fmt.Sprintf("EOT attention per head, image %d, class %q (one log colour scale)", i, cl.Name), Cols: min(heads, 4)}
	for h := range heads {
		z := make([][]float64, len(cl.EOTAttentionHeads))
		for l := range z {
			z[l] = cl.EOTAttentionHeads[l][h]
		}
		f.Panels = append(f.Panels, &Heatmap{Title: "head " + strconv.Itoa(h), Z: z, XLabels: cl.Tokens,
			YLabels: layerNames(len(z)), Log: true, Scale: &s, Values: len(cl.Tokens) <= 16, BarTitle: "attention"})
	}
	rows := (heads + f.Cols - 1) / f.Cols
	f.Width = vg.Length(f.Cols) * (vg.Length(len(cl.Tokens))*cell*0.8 + 2.4*vg.Inch)
	f.Height = vg.Length(rows)*(vg.Length(len(cl.EOTAttentionHeads))*cell*0.7+2.4*vg.Inch) + 0.5*vg.Inch
	return f
}

// GradPositionLayer is the position × layer gradient heatmap of class c's
// prompt for image i: ‖∂loss/∂x‖ at every position of the input embeddings
// (bottom row) and of every block's output, on a log colour scale. The top
// row is zero except at EOT (the class feature reads EOT alone); going
// down, attention spreads the gradient to earlier positions.
func GradPositionLayer(g *cocoop.GradInspection, i, c int) *Figure {
	cl := &g.Images[i].Classes[c]
	L := len(cl.BlockGradNormsPos)
	z := make([][]float64, 0, L+1)
	names := make([]string, 0, L+1)
	for l := L - 1; l >= 0; l-- {
		z = append(z, cl.BlockGradNormsPos[l])
		names = append(names, "block "+strconv.Itoa(l)+" output")
	}
	z = append(z, cl.PromptGradNormPos)
	names = append(names, "input embedding")
	h := &Heatmap{Title: "‖∂loss/∂x‖ per position and layer (log colour; grey = exactly 0)", XTitle: "position (token)",
		Z: z, XLabels: cl.Tokens, YLabels: names, Log: true, Values: true, BarTitle: "gradient norm"}
	return &Figure{
		Title:  fmt.Sprintf("image %d, class %q: where the gradient of the loss goes, layer by layer", i, cl.Name),
		Panels: []Panel{h},
		Width:  vg.Length(len(cl.Tokens))*cell + 4*vg.Inch, Height: vg.Length(L+1)*cell*0.8 + 3*vg.Inch,
	}
}

// BlockGradNorms draws ‖∂loss/∂output of block l‖ per block for image i,
// one line per class (the true class and the most probable others, at most
// n), on a log axis.
func BlockGradNorms(g *cocoop.GradInspection, i, n int) *Figure {
	im := &g.Images[i]
	var series []Series
	for _, c := range plottedClasses(im, n) {
		cl := im.Classes[c]
		s := Series{Name: fmt.Sprintf("%s (p = %.2f)", cl.Name, cl.Prob)}
		if c == im.Label {
			s.Name += ", true"
		}
		for l, v := range cl.BlockGradNorms {
			s.X, s.Y = append(s.X, float64(l)), append(s.Y, v)
		}
		series = append(series, s)
	}
	var ticks []gp.Tick
	for l := range g.Layers {
		ticks = append(ticks, gp.Tick{Value: float64(l), Label: strconv.Itoa(l)})
	}
	p := LinePlot(fmt.Sprintf("image %d: ‖∂loss/∂ block output‖ per text block, per class prompt", i), "block", "gradient norm", true, series, ticks)
	return &Figure{Panels: []Panel{p}, Width: 8 * vg.Inch, Height: 5 * vg.Inch}
}

// plottedClasses returns the true class of image im and its most probable
// others, at most n, in class order.
func plottedClasses(im *cocoop.ImageInspection, n int) []int {
	idx := make([]int, len(im.Classes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ia, ib := idx[a], idx[b]
		if (ia == im.Label) != (ib == im.Label) {
			return ia == im.Label
		}
		return im.Classes[ia].Prob > im.Classes[ib].Prob
	})
	idx = idx[:min(n, len(idx))]
	sort.Ints(idx)
	return idx
}

// GradNorms draws the gradient norms of the trainables on one log axis:
// ‖∂loss/∂ctx_m‖ per context vector, ‖∂loss/∂π(x)‖ per image, and the
// meta-net's weights and biases. Only gradients: activations are in Pi.
func GradNorms(g *cocoop.GradInspection) *Figure {
	var names []string
	var vals []float64
	var group []int
	for m, v := range g.CtxVecGradNorms {
		names, vals, group = append(names, "ctx"+strconv.Itoa(m+1)), append(vals, v), append(group, 0)
	}
	for i, im := range g.Images {
		names, vals, group = append(names, "π(x) img "+strconv.Itoa(i)), append(vals, im.PiGradNorm), append(group, 1)
	}
	for _, l := range g.MetaNet {
		names, vals, group = append(names, l.Layer+".weight", l.Layer+".bias"), append(vals, l.WeightGradNorm, l.BiasGradNorm), append(group, 2, 2)
	}
	p := DotPlot(fmt.Sprintf("gradient norms of the trainables, batch of %d image(s), loss %.4g", len(g.Images), g.Loss), "‖∂loss/∂·‖", true, names, vals, group)
	return &Figure{Panels: []Panel{p}, Width: vg.Length(max(6, len(names))) * 0.55 * vg.Inch, Height: 5 * vg.Inch}
}

// Pi shows the meta-net's output π(x) per image (at most 4) as a histogram
// of its components — the dimensions have no order, so a line through
// them would mean nothing — with its norm.
func Pi(g *cocoop.GradInspection) *Figure {
	f := &Figure{Title: "π(x): the shift the meta-net adds to every context vector (activations)"}
	for i, im := range g.Images {
		if i == 4 {
			break
		}
		h, err := plotter.NewHist(plotter.Values(im.Pi), 40)
		if err != nil {
			panic(err)
		}
		h.FillColor = plotutil.Color(1)
		p := gp.New()
		p.Title.Text = fmt.Sprintf("image %d: ‖π(x)‖ = %s over %d dimensions", i, FormatValue(im.PiNorm), len(im.Pi))
		p.X.Label.Text, p.Y.Label.Text = "value of a component", "number of components"
		p.Add(h)
		f.Panels = append(f.Panels, p)
	}
	f.Cols = len(f.Panels)
	f.Width, f.Height = vg.Length(max(1, f.Cols))*5*vg.Inch, 4*vg.Inch
	return f
}

// GradFlow is the gradient flow over training from h: the batch loss, the
// gradient norm of each trainable (log axis), the gradient norm per
// context vector (log axis) and, on its own axis, each trainable's norm.
func GradFlow(h *cocoop.GradHistory) *Figure {
	var loss Series
	var params []string
	grads, norms := map[string]*Series{}, map[string]*Series{}
	var ctxVec []Series
	for _, s := range h.Steps {
		x := float64(s.GlobalStep)
		loss.X, loss.Y = append(loss.X, x), append(loss.Y, s.Loss)
		for _, p := range s.Params {
			if grads[p.Name] == nil {
				params = append(params, p.Name)
				grads[p.Name], norms[p.Name] = &Series{Name: p.Name}, &Series{Name: p.Name}
			}
			grads[p.Name].X, grads[p.Name].Y = append(grads[p.Name].X, x), append(grads[p.Name].Y, p.GradNorm)
			norms[p.Name].X, norms[p.Name].Y = append(norms[p.Name].X, x), append(norms[p.Name].Y, p.Norm)
		}
		for m, v := range s.CtxVecGradNorms {
			for len(ctxVec) <= m {
				ctxVec = append(ctxVec, Series{Name: "ctx" + strconv.Itoa(len(ctxVec)+1)})
			}
			ctxVec[m].X, ctxVec[m].Y = append(ctxVec[m].X, x), append(ctxVec[m].Y, v)
		}
	}
	collect := func(m map[string]*Series) []Series {
		var out []Series
		for _, n := range params {
			out = append(out, *m[n])
		}
		return out
	}
	return &Figure{
		Title: fmt.Sprintf("gradient flow over %d training steps", len(h.Steps)),
		Cols:  2,
		Panels: []Panel{
			LinePlot("batch loss", "step", "cross-entropy", false, []Series{loss}, nil),
			LinePlot("gradient norm per trainable", "step", "‖∂loss/∂θ‖", true, collect(grads), nil),
			LinePlot("gradient norm per context vector", "step", "‖∂loss/∂ctx_m‖", true, ctxVec, nil),
			LinePlot("norm of each trainable (values, not gradients)", "step", "‖θ‖", true, collect(norms), nil),
		},
		Width: 12 * vg.Inch, Height: 9 * vg.Inch,
	}
}

// InspectionFigures writes the figures of g for image 0's true class into
// dir and returns their paths:
//
//	eot_attention.png        EOTAttention
//	eot_attention_heads.png  EOTAttentionHeads
//	grad_position_layer.png  GradPositionLayer
//	block_grad_norm.png      BlockGradNorms (at most 6 classes)
//	grad_norms.png           GradNorms
//	pi.png                   Pi
func InspectionFigures(g *cocoop.GradInspection, dir string) ([]string, error) {
	if len(g.Images) == 0 {
		return nil, fmt.Errorf("plot: inspection has no images")
	}
	c := g.Images[0].Label
	figs := []struct {
		name string
		f    func() *Figure
	}{
		{"eot_attention.png", func() *Figure { return EOTAttention(g, 0, c) }},
		{"eot_attention_heads.png", func() *Figure { return EOTAttentionHeads(g, 0, c) }},
		{"grad_position_layer.png", func() *Figure { return GradPositionLayer(g, 0, c) }},
		{"block_grad_norm.png", func() *Figure { return BlockGradNorms(g, 0, 6) }},
		{"grad_norms.png", func() *Figure { return GradNorms(g) }},
		{"pi.png", func() *Figure { return Pi(g) }},
	}
	var paths []string
	for _, fg := range figs {
		var f *Figure
		if err := tensor.Try(func() { f = fg.f() }); err != nil {
			return paths, fmt.Errorf("plot: %s: %w", fg.name, err)
		}
		path := filepath.Join(dir, fg.name)
		if err := f.Save(path); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return slices.Clip(paths), nil
}
