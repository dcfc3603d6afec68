package plot

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/gocoop/gocoop/cocoop"
)

func TestNewScale(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		vs       []float64
		log      bool
		min, max float64
	}{
		{[]float64{3, -1, 2, nan, inf}, false, -1, 3},
		{[]float64{0, 1e-4, 0.5, 20, -3}, true, 1e-4, 20}, // log: only positive values
		{[]float64{nan}, false, 0, 1},
		{[]float64{0, -1}, true, 1, 10},
		{[]float64{2, 2}, false, 1, 3},
		{[]float64{2, 2}, true, 0.2, 20},
	} {
		s := NewScale(c.vs, c.log)
		if s.Log != c.log || math.Abs(s.Min-c.min) > 1e-12 || math.Abs(s.Max-c.max) > 1e-12 {
			t.Errorf("NewScale(%v, %v) = %+v, want [%v, %v]", c.vs, c.log, s, c.min, c.max)
		}
	}
}

func TestScaleNorm(t *testing.T) {
	lin := Scale{Min: -1, Max: 3}
	log := Scale{Min: 1e-3, Max: 10, Log: true}
	for _, c := range []struct {
		s    Scale
		v, t float64
	}{
		{lin, -1, 0}, {lin, 1, 0.5}, {lin, 3, 1}, {lin, 7, 1}, {lin, -5, 0},
		{log, 1e-3, 0}, {log, 1e-1, 0.5}, {log, 10, 1}, {log, 1e-6, 0},
	} {
		if got := c.s.Norm(c.v); math.Abs(got-c.t) > 1e-12 {
			t.Errorf("%+v.Norm(%v) = %v, want %v", c.s, c.v, got, c.t)
		}
	}
	for _, v := range []float64{0, -1, math.NaN()} {
		if got := log.Norm(v); !math.IsNaN(got) {
			t.Errorf("log scale Norm(%v) = %v, want NaN (a blank cell)", v, got)
		}
	}
}

func TestScaleTicks(t *testing.T) {
	for _, c := range []struct {
		s    Scale
		want []float64
	}{
		{Scale{Min: 0, Max: 1}, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{Scale{Min: 0.0023, Max: 0.61}, []float64{0.0023, 0.2, 0.4, 0.61}}, // 0.6 crowds the end
		// Log: the decades inside, the ends always.
		{Scale{Min: 3.4e-5, Max: 5.7, Log: true}, []float64{3.4e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 5.7}},
		// Under two decades: 1, 2, 5 × 10ⁿ; 1e-2 is too close to the end 0.011.
		{Scale{Min: 0.011, Max: 0.6, Log: true}, []float64{0.011, 0.02, 0.05, 0.1, 0.2, 0.6}},
	} {
		got := c.s.Ticks()
		if len(got) != len(c.want) {
			t.Errorf("%+v.Ticks() = %v, want %v", c.s, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9*math.Abs(c.want[i])+1e-15 {
				t.Errorf("%+v.Ticks() = %v, want %v", c.s, got, c.want)
				break
			}
		}
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.5312: "0.53", 0.0123: "0.012", 3.4e-5: "3.4e-5", 17.2: "17", 1234.5: "1234",
		-0.25: "-0.25", 2.5e7: "25000000", -4.4e-6: "-4.4e-6", 1: "1",
	} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if FormatValue(math.NaN()) != "" {
		t.Error("NaN should print as nothing")
	}
}

func TestLuminanceAndColors(t *testing.T) {
	if l := luminance(color.White); math.Abs(l-1) > 1e-9 {
		t.Errorf("white: %v", l)
	}
	if l := luminance(color.Black); l != 0 {
		t.Errorf("black: %v", l)
	}
	// The colour map's lightness rises: higher values are lighter.
	cm := colors()
	prev := -1.0
	for i := 0; i <= 10; i++ {
		c, err := cm.At(float64(i) / 10)
		if err != nil {
			t.Fatal(err)
		}
		l := luminance(c)
		if l <= prev {
			t.Errorf("colour at %v has luminance %v, not above %v", float64(i)/10, l, prev)
		}
		prev = l
	}
}

// The colour bar's labels are the scale's ticks, placed where the scale
// puts them.
func TestHeatmapColorBar(t *testing.T) {
	h := &Heatmap{Z: [][]float64{{1e-4, 0.5}, {2, math.NaN()}}, Log: true, XLabels: []string{"SOS", "EOT"}, YLabels: []string{"a", "b"}}
	main, bar := h.Plots()
	ticks := bar.Y.Tick.Marker.Ticks(0, 1)
	s := Scale{Min: 1e-4, Max: 2, Log: true}
	want := s.Ticks()
	if len(ticks) != len(want) {
		t.Fatalf("bar ticks %v, want values %v", ticks, want)
	}
	for i, tk := range ticks {
		if tk.Label != FormatValue(want[i]) || math.Abs(tk.Value-s.Norm(want[i])) > 1e-12 {
			t.Errorf("bar tick %d = %+v, want %q at %v", i, tk, FormatValue(want[i]), s.Norm(want[i]))
		}
	}
	// Row 0 is drawn at the top.
	yt := main.Y.Tick.Marker.Ticks(0, 1)
	if yt[0].Label != "a" || yt[0].Value != 1 || yt[1].Label != "b" || yt[1].Value != 0 {
		t.Errorf("row ticks %+v", yt)
	}
	// Per-row scales: the bar reads fractions 0..1, each row spans 0 to its max.
	h.RowScale, h.Log = true, false
	_, bar = h.Plots()
	if tk := bar.Y.Tick.Marker.Ticks(0, 1); tk[0].Label != "0" || tk[len(tk)-1].Label != "1" {
		t.Errorf("row-scale bar ticks %+v", tk)
	}
	if s := h.rowScale(1, Scale{}); s.Min != 0 || s.Max != 2 {
		t.Errorf("row 1 scale %+v, want [0, 2]", s)
	}
}

// fakeInspection is a GradInspection of 2 images, 3 classes, 2 layers and
// 2 heads, filled with values spanning decades.
func fakeInspection() *cocoop.GradInspection {
	const L, H, nCtx = 2, 2, 4
	g := &cocoop.GradInspection{Loss: 0.7, NCtx: nCtx, Layers: L, Heads: H, CtxGradNorm: 0.1,
		CtxVecGradNorms: []float64{0.06, 0.05, 0.04, 0.03}, BlockGradNorms: []float64{0.2, 0.1},
		MetaNet: []cocoop.LayerGrad{{Layer: "linear1", WeightGradNorm: 0.07, BiasGradNorm: 0.08}, {Layer: "linear2", WeightGradNorm: 0.03, BiasGradNorm: 0.3}}}
	for i := range 2 {
		im := cocoop.ImageInspection{Label: i, Loss: 0.5, PiNorm: 3, PiGradNorm: 0.2, CtxGradNorms: []float64{0.1, 0.1, 0.1, 0.1}}
		for d := range 64 {
			im.Pi = append(im.Pi, math.Sin(float64(d)))
		}
		for c, name := range []string{"red circle", "blue square", "green star"} {
			tokens := []string{"SOS", "ctx1", "ctx2", "ctx3", "ctx4"}
			tokens = append(tokens, slices.Collect(func(yield func(string) bool) {
				for _, w := range []string{name[:3], name[4:], ".", "EOT"} {
					yield(w)
				}
			})...)
			e := len(tokens) - 1
			cl := cocoop.ClassInspection{Name: name, EOT: e, Tokens: tokens, Prob: 1.0 / 3}
			for j := range e + 1 {
				cl.PromptGradNormPos = append(cl.PromptGradNormPos, math.Pow(10, -float64(j%5)))
			}
			for l := range L {
				pos := make([]float64, e+1)
				att, ga := make([]float64, e+1), make([]float64, e+1)
				heads := make([][]float64, H)
				for h := range heads {
					heads[h] = make([]float64, e+1)
				}
				for j := range pos {
					if l < L-1 || j == e {
						pos[j] = 1e-3 * float64(j+1)
					}
					att[j] = 1 / float64(e+1)
					ga[j] = 1e-5 * float64(j)
					for h := range heads {
						heads[h][j] = math.Pow(10, -float64((j+h)%4))
					}
				}
				cl.BlockGradNorms = append(cl.BlockGradNorms, float64(c+1)*0.01)
				cl.BlockGradNormsPos = append(cl.BlockGradNormsPos, pos)
				cl.EOTAttention = append(cl.EOTAttention, att)
				cl.EOTGradAttention = append(cl.EOTGradAttention, ga)
				cl.EOTAttentionHeads = append(cl.EOTAttentionHeads, heads)
			}
			im.Classes = append(im.Classes, cl)
		}
		g.Images = append(g.Images, im)
	}
	return g
}

func pngSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

func TestInspectionFigures(t *testing.T) {
	dir := t.TempDir()
	g := fakeInspection()
	paths, err := InspectionFigures(g, dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"eot_attention.png", "eot_attention_heads.png", "grad_position_layer.png", "block_grad_norm.png", "grad_norms.png", "pi.png"}
	if len(paths) != len(names) {
		t.Fatalf("wrote %v", paths)
	}
	for i, p := range paths {
		if filepath.Base(p) != names[i] {
			t.Errorf("figure %d is %s, want %s", i, p, names[i])
		}
		w, h := pngSize(t, p)
		if w < 300 || h < 200 {
			t.Errorf("%s is %d×%d", p, w, h)
		}
	}
	// Sizes follow the figure: the attention figure grows with the number
	// of positions.
	f := EOTAttention(g, 0, 0)
	if w := f.Width; w != 2*(vg.Length(len(g.Images[0].Classes[0].Tokens))*cell+2.6*vg.Inch) {
		t.Errorf("attention figure width %v", w)
	}
	// The position × layer map: the last block on top, the input at the bottom.
	hm := GradPositionLayer(g, 0, 0).Panels[0].(*Heatmap)
	if hm.YLabels[0] != "block 1 output" || hm.YLabels[len(hm.YLabels)-1] != "input embedding" || !hm.Log {
		t.Errorf("position × layer rows %q (log %v)", hm.YLabels, hm.Log)
	}
	if _, err := InspectionFigures(&cocoop.GradInspection{}, dir); err == nil {
		t.Error("an inspection without images should be refused")
	}
}

func TestGradFlowAndTiles(t *testing.T) {
	h := &cocoop.GradHistory{}
	for s := 1; s <= 5; s++ {
		h.Steps = append(h.Steps, cocoop.GradStep{Progress: cocoop.Progress{GlobalStep: s, Loss: 1 / float64(s)},
			Params:          []cocoop.ParamGrad{{Name: "ctx", Norm: 1, GradNorm: 0.1 / float64(s)}, {Name: "meta_net.linear1.weight", Norm: 2, GradNorm: 0}},
			CtxVecGradNorms: []float64{0.05, 0.04}})
	}
	f := GradFlow(h)
	if len(f.Panels) != 4 {
		t.Fatalf("%d panels", len(f.Panels))
	}
	path := filepath.Join(t.TempDir(), "flow.png")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if w, hh := pngSize(t, path); w != int(f.Width.Dots(96)+0.5) || hh != int(f.Height.Dots(96)+0.5) {
		t.Errorf("%s is %d×%d, want %v×%v at 96 dpi", path, w, hh, f.Width.Dots(96), f.Height.Dots(96))
	}
	tile := filepath.Join(t.TempDir(), "tiles.png")
	p := gp.New()
	if err := SaveTiles(tile, [][]*gp.Plot{{p, gp.New()}}, 4*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if w, hh := pngSize(t, tile); w != 384 || hh != 192 {
		t.Errorf("tiles %d×%d", w, hh)
	}
	if err := f.Save(filepath.Join(t.TempDir(), "no", "such", "dir.png")); err == nil {
		t.Error("saving into a missing directory should fail")
	}
}
