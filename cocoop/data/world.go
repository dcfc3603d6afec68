package data

import (
	"fmt"
	"image"
	"iter"
	"strings"

	"github.com/gocoop/gocoop/tensor"
)

// CaptionDesign chooses how pretraining captions name the classes of a
// world ([World], [FashionMNIST]).
//
// Real CLIP learnt its text from the web, whose words do not match the
// class names of a downstream benchmark exactly; prompt learning (CoOp,
// CoCoOp) earns its keep by closing that gap. A model pretrained on
// captions that use the class names as they are has no gap: zero-shot is
// already as good as a supervised classifier and prompt learning has
// nothing to fix (an independent PyTorch run on Fashion-MNIST: zero-shot
// 89.6/95.6/92.5 Base/New/H, CoOp 88.9/94.9/91.8). [CaptionsGap], the
// default, names one pair of base classes inconsistently: both canonical
// names are used for both classes (each class keeps its other synonyms),
// so the pretrained text tower cannot tell the pair apart by name while
// the images still can be. Prompt learning on the base classes can fix
// that, and the gap is kept on the base side only: were the new classes to
// share it, the learnt context would fix them too and the base-to-new
// contrast would vanish.
type CaptionDesign int

const (
	// CaptionsGap names one base-class pair inconsistently (the default).
	CaptionsGap CaptionDesign = iota
	// CaptionsPlain uses every class name as it is.
	CaptionsPlain
)

// String returns "gap" or "plain".
func (d CaptionDesign) String() string {
	switch d {
	case CaptionsGap:
		return "gap"
	case CaptionsPlain:
		return "plain"
	}
	return fmt.Sprintf("CaptionDesign(%d)", int(d))
}

// ParseCaptionDesign parses "gap" or "plain".
func ParseCaptionDesign(s string) (CaptionDesign, error) {
	switch strings.ToLower(s) {
	case "gap":
		return CaptionsGap, nil
	case "plain":
		return CaptionsPlain, nil
	}
	return 0, fmt.Errorf("data: caption design %q: want \"gap\" or \"plain\"", s)
}

// The embedded world's registry name, dataset directory, image directory
// and split file: [ExportWorld] writes root/world/images/... and
// root/world/split_zhou_World.json, which Load("World", root) reads.
const (
	WorldName      = "World"
	WorldDir       = "world"
	WorldImageDir  = "images"
	WorldSplitFile = "split_zhou_World.json"
)

// The attributes of a scene, by index. Colours and shapes have caption
// synonyms; the first word is the canonical one, used in class names.
var (
	worldShapes = [][2][]string{ // singular synonyms, plural synonyms
		{{"circle", "disc"}, {"circles", "discs"}},
		{{"square", "block"}, {"squares", "blocks"}},
		{{"triangle"}, {"triangles"}},
		{{"star"}, {"stars"}},
		{{"cross", "plus sign"}, {"crosses", "plus signs"}},
	}
	worldColours = [][]string{
		{"red", "crimson", "scarlet"},
		{"green", "emerald", "lime"},
		{"blue", "azure", "navy"},
		{"yellow", "gold", "lemon"},
		{"pink", "rose", "magenta"},
		{"purple", "violet", "lilac"},
	}
	worldRGB         = [][3]int{{220, 40, 40}, {40, 170, 60}, {40, 80, 220}, {235, 215, 40}, {255, 130, 190}, {130, 40, 160}}
	worldSizes       = [][]string{{"small", "little", "tiny"}, {"large", "big"}}
	worldPatterns    = [][]string{{"plain", "solid"}, {"striped", "stripy"}, {"dotted", "spotted"}}
	worldBackgrounds = []string{"grey", "black", "white"}
	worldBgRGB       = [][3]int{{128, 128, 128}, {24, 24, 24}, {232, 232, 232}}
	worldPositions   = [][]string{{"in the centre", "in the middle"}, {"on the left"}, {"on the right"}, {"at the top"}, {"at the bottom"}}
	worldCounts      = []string{"one", "two", "three"}
)

// Indices of the gap pair's colours (pink, purple).
const worldGapA, worldGapB = 4, 5

// worldClasses are the downstream classes as (colour, shape) indices, in
// label order. SubsampleClasses makes the first 8 the base classes and the
// last 8 the new ones. Each new class is a colour–shape combination that no
// base class has, made of a colour and a shape that base classes do show;
// the gap pair (pink star, purple star) is on the base side only, and no
// new class is pink or purple. The cross is seen in pretraining only.
var worldClasses = [][2]int{
	// base
	{0, 0}, {0, 2}, {1, 1}, {1, 3}, {2, 0}, {3, 1}, {worldGapA, 3}, {worldGapB, 3},
	// new
	{0, 1}, {0, 3}, {1, 0}, {1, 2}, {2, 1}, {2, 3}, {3, 0}, {3, 2},
}

// WorldClassNames returns the embedded world's downstream class names by
// label ("red circle", ...): the first 8 are the base classes, the last 8
// the new ones.
func WorldClassNames() []string {
	out := make([]string, len(worldClasses))
	for i, c := range worldClasses {
		out[i] = worldColours[c[0]][0] + " " + worldShapes[c[1]][0][0]
	}
	return out
}

// Scene is one picture of the embedded world: Count objects (1 to 3) of
// the same shape, colour, size and pattern on a plain background. Fields
// are indices into the attribute lists; Position applies to a single
// object, and several objects are always small.
type Scene struct {
	Shape, Colour, Size, Pattern, Background, Position, Count int
}

// WorldConfig configures the embedded world.
type WorldConfig struct {
	Seed      uint64        // seeds every image and caption
	ImageSize int           // pixels per side; 0 means 32 (at least 16)
	Train     int           // downstream train images per class; 0 means 32
	Val       int           // downstream val images per class; 0 means 8
	Test      int           // downstream test images per class; 0 means 100
	Captions  CaptionDesign // pretraining captions; not part of the export
}

// withDefaults fills the zero fields.
func (c WorldConfig) withDefaults() (WorldConfig, error) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.ImageSize, 32)
	def(&c.Train, 32)
	def(&c.Val, 8)
	def(&c.Test, 100)
	if c.ImageSize < 16 || c.ImageSize > 1024 {
		return c, fmt.Errorf("data: world: image size %d out of range [16, 1024]", c.ImageSize)
	}
	if c.Train < 0 || c.Val < 0 || c.Test < 0 {
		return c, fmt.Errorf("data: world: negative image count (train %d, val %d, test %d)", c.Train, c.Val, c.Test)
	}
	if c.Captions != CaptionsGap && c.Captions != CaptionsPlain {
		return c, fmt.Errorf("data: world: unknown caption design %d", int(c.Captions))
	}
	return c, nil
}

// World is the embedded world: a procedural, seeded generator of images
// and captions. Every image and caption is a pure function of the config
// and its index: no map iteration, no goroutine scheduling and no floating
// point enter the pixels, so they are the same on every machine.
type World struct{ cfg WorldConfig }

// NewWorld returns the world of cfg (zero fields take their defaults).
func NewWorld(cfg WorldConfig) (*World, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &World{cfg: c}, nil
}

// Seed tags keep the pretraining and downstream streams apart.
const (
	tagPretrain = 0x5052_4554_5241_494e
	tagSplit    = 0x5350_4c49_5453_0000
)

// Pair returns pretraining pair i (any i >= 0): a random scene over every
// shape and colour, rendered, and a caption of it in one of several
// phrasings, drawn with the config's caption design.
func (w *World) Pair(i int) (*image.RGBA, string) {
	rng := tensor.NewRNG(mix(mix(w.cfg.Seed^tagPretrain) ^ uint64(i)))
	s := randomScene(rng, rng.Intn(len(worldShapes)), rng.Intn(len(worldColours)))
	img := w.Render(s, rng.Uint64())
	return img, w.Caption(s, rng)
}

// Pairs yields pretraining pairs first, first+1, ..., first+n-1.
func (w *World) Pairs(first, n int) iter.Seq2[*image.RGBA, string] {
	return func(yield func(*image.RGBA, string) bool) {
		for i := first; i < first+n; i++ {
			if !yield(w.Pair(i)) {
				return
			}
		}
	}
}

// Downstream returns image i of class label in split ("train", "val" or
// "test") of the downstream classification set, and its scene: the
// class's shape and colour, every other attribute random.
func (w *World) Downstream(split string, label, i int) (*image.RGBA, Scene, error) {
	k := map[string]uint64{"train": 1, "val": 2, "test": 3}[split]
	if k == 0 {
		return nil, Scene{}, fmt.Errorf("data: world: unknown split %q", split)
	}
	if label < 0 || label >= len(worldClasses) {
		return nil, Scene{}, fmt.Errorf("data: world: label %d out of range [0, %d)", label, len(worldClasses))
	}
	rng := tensor.NewRNG(mix(mix(mix(mix(w.cfg.Seed^tagSplit)^k)^uint64(label)) ^ uint64(i)))
	c := worldClasses[label]
	s := randomScene(rng, c[1], c[0])
	return w.Render(s, rng.Uint64()), s, nil
}

// randomScene draws the attributes other than shape and colour.
func randomScene(rng *tensor.RNG, shape, colour int) Scene {
	s := Scene{Shape: shape, Colour: colour}
	s.Count = 1 + rng.Intn(3)
	if s.Count > 1 && rng.Intn(2) == 0 { // one object half the time
		s.Count = 1
	}
	s.Size = rng.Intn(len(worldSizes))
	s.Pattern = rng.Intn(len(worldPatterns))
	s.Background = rng.Intn(len(worldBackgrounds))
	s.Position = rng.Intn(len(worldPositions))
	if s.Count > 1 {
		s.Size, s.Position = 0, 0
	}
	return s
}

// ClassName returns the scene's class name, "<colour> <shape>".
func (s Scene) ClassName() string {
	return worldColours[s.Colour][0] + " " + worldShapes[s.Shape][0][0]
}

// pick returns a uniform element of words.
func pick(rng Intner, words []string) string { return words[rng.Intn(len(words))] }

// colourWord returns a colour word for colour c: the canonical name half
// the time, a synonym otherwise. Under CaptionsGap the canonical slot of
// pink and purple says "pink" or "purple" at random, for both colours.
func colourWord(rng Intner, c int, design CaptionDesign) string {
	syn := worldColours[c]
	if rng.Intn(2) == 0 {
		if design == CaptionsGap && (c == worldGapA || c == worldGapB) {
			return worldColours[[]int{worldGapA, worldGapB}[rng.Intn(2)]][0]
		}
		return syn[0]
	}
	return pick(rng, syn[1:])
}

// article returns "an" before a vowel, "a" otherwise.
func article(next string) string {
	if next != "" && strings.ContainsRune("aeiou", rune(next[0])) {
		return "an"
	}
	return "a"
}

// Caption returns a caption of s in one of several phrasings ("a photo of
// a small red striped circle", "two blue squares on a grey background",
// ...), drawn from rng with the world's caption design. The colour is named
// nine times in ten and the shape always; size, pattern, background and
// position are each mentioned some of the time.
func (w *World) Caption(s Scene, rng Intner) string {
	plural := s.Count > 1
	var np []string // the noun phrase without its determiner
	if s.Count == 1 && rng.Intn(2) == 0 {
		np = append(np, pick(rng, worldSizes[s.Size]))
	}
	colour := ""
	if rng.Intn(10) != 0 {
		colour = colourWord(rng, s.Colour, w.cfg.Captions)
	}
	pattern := ""
	if s.Pattern != 0 && rng.Intn(2) == 0 || s.Pattern == 0 && rng.Intn(4) == 0 {
		pattern = pick(rng, worldPatterns[s.Pattern])
	}
	shape := pick(rng, worldShapes[s.Shape][b2i(plural)])
	form := rng.Intn(3) // 0: colour before the shape; 1: "... in <colour>"; 2: "... that is <colour>"
	if colour == "" {
		form = 0
	}
	if form == 0 && colour != "" {
		np = append(np, colour)
	}
	if pattern != "" {
		np = append(np, pattern)
	}
	np = append(np, shape)
	switch form {
	case 1:
		np = append(np, "in", colour)
	case 2:
		if plural {
			np = append(np, "that are", colour)
		} else {
			np = append(np, "that is", colour)
		}
	}
	det := worldCounts[s.Count-1]
	if !plural && rng.Intn(4) != 0 {
		det = article(np[0])
	}
	phrase := det + " " + strings.Join(np, " ")
	var tail []string
	if rng.Intn(5) < 2 {
		tail = append(tail, []string{"on a ", "against a ", "on "}[rng.Intn(3)]+worldBackgrounds[s.Background]+" background")
	}
	if !plural && rng.Intn(5) < 2 {
		pos := pick(rng, worldPositions[s.Position])
		if rng.Intn(2) == 0 {
			tail = append(tail, pos)
		} else {
			tail = append([]string{pos}, tail...)
		}
	}
	if len(tail) > 0 {
		phrase += " " + strings.Join(tail, " ")
	}
	switch rng.Intn(6) {
	case 0:
		return "a photo of " + phrase + "."
	case 1:
		return "an image of " + phrase + "."
	case 2:
		if plural {
			return "there are " + phrase + "."
		}
		return "there is " + phrase + "."
	case 3:
		return "a picture showing " + phrase + "."
	case 4:
		return phrase + "."
	}
	return phrase
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Rendering works on a grid of sub×sub samples per pixel in integer
// arithmetic (the coverage gives the antialiasing), so the pixels are
// exact on every architecture.
const sub = 4

// Unit polygons, in thousandths of the object's radius (y down).
var (
	triangleUnit = [][2]int64{{0, -1000}, {900, 560}, {-900, 560}}
	starUnit     = [][2]int64{
		{0, -1000}, {265, -364}, {951, -309}, {428, 139}, {588, 809},
		{0, 450}, {-588, 809}, {-428, 139}, {-951, -309}, {-265, -364},
	}
)

// object is one shape placed on the sample grid.
type object struct {
	cx, cy, r int64      // centre and radius in samples
	poly      [][2]int64 // the polygon in samples, for triangles and stars
}

// Render draws s at the world's image size. seed drives the colour jitter,
// the placement jitter and the pixel noise.
func (w *World) Render(s Scene, seed uint64) *image.RGBA {
	rng := tensor.NewRNG(seed)
	n := w.cfg.ImageSize
	N := int64(n * sub)
	jit := func(v int) int { return v + rng.Intn(31) - 15 }
	fg := [3]int{}
	for k := range fg {
		fg[k] = clamp255(jit(worldRGB[s.Colour][k]))
	}
	bgJ := rng.Intn(21) - 10
	var bg [3]int
	for k := range bg {
		bg[k] = clamp255(worldBgRGB[s.Background][k] + bgJ)
	}
	dark := [3]int{fg[0] * 2 / 5, fg[1] * 2 / 5, fg[2] * 2 / 5}
	if s.Colour == 3 || s.Background == 1 { // keep yellow and dark backgrounds readable: lighten instead
		for k := range dark {
			dark[k] = fg[k] + (255-fg[k])*3/5
		}
		if s.Colour == 3 {
			dark = [3]int{fg[0] * 3 / 5, fg[1] * 3 / 5, fg[2] * 1 / 5}
		}
	}
	// Placement, in samples.
	r := N * 3 / 16
	if s.Size == 1 {
		r = N * 5 / 16
	}
	shake := func() int64 { return int64(rng.Intn(2*sub*n/32+1)) - int64(sub*n/32) }
	var centres [][2]int64
	switch s.Count {
	case 1:
		c := [2]int64{N / 2, N / 2}
		edge := r + N/16
		switch s.Position {
		case 1:
			c[0] = edge
		case 2:
			c[0] = N - edge
		case 3:
			c[1] = edge
		case 4:
			c[1] = N - edge
		}
		centres = append(centres, [2]int64{c[0] + shake(), c[1] + shake()})
	case 2:
		y := N/2 + 2*shake()
		centres = append(centres, [2]int64{N / 4, y + shake()}, [2]int64{3 * N / 4, N - y + shake()})
	default:
		centres = append(centres, [2]int64{N / 4, N / 4}, [2]int64{3 * N / 4, N / 4}, [2]int64{N / 2, 3 * N / 4})
		for i := range centres {
			centres[i][0] += shake()
			centres[i][1] += shake()
		}
	}
	objs := make([]object, len(centres))
	for i, c := range centres {
		o := object{cx: c[0], cy: c[1], r: r}
		var unit [][2]int64
		switch s.Shape {
		case 2:
			unit = triangleUnit
		case 3:
			unit = starUnit
		}
		for _, v := range unit {
			o.poly = append(o.poly, [2]int64{o.cx + v[0]*r/1000, o.cy + v[1]*r/1000})
		}
		objs[i] = o
	}
	stripe := int64(sub * max(2, n/10)) // stripe width in samples
	dotP := int64(sub * max(4, n*3/16)) // dot spacing
	dotR := dotP * 3 / 10
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for py := range n {
		for px := range n {
			var acc [3]int
			near := false // does the pixel touch an object's bounding box?
			x0, y0 := int64(px*sub), int64(py*sub)
			for _, o := range objs {
				if x0+sub > o.cx-o.r && x0 <= o.cx+o.r && y0+sub > o.cy-o.r && y0 <= o.cy+o.r {
					near = true
				}
			}
			for sy := range sub {
				if !near {
					for k := range acc {
						acc[k] = bg[k] * sub * sub
					}
					break
				}
				for sx := range sub {
					x := int64(px*sub+sx)*2 + 1 // sample centres, in half samples
					y := int64(py*sub+sy)*2 + 1
					col := bg
					for _, o := range objs {
						if !inside(s.Shape, o, x, y) {
							continue
						}
						col = fg
						xs, ys := x/2, y/2
						switch s.Pattern {
						case 1:
							if (xs+ys)/stripe%2 == 1 {
								col = dark
							}
						case 2:
							dx, dy := xs%dotP-dotP/2, ys%dotP-dotP/2
							if dx*dx+dy*dy <= dotR*dotR {
								col = dark
							}
						}
						break
					}
					for k := range acc {
						acc[k] += col[k]
					}
				}
			}
			noise := rng.Intn(9) - 4
			o := img.PixOffset(px, py)
			for k := range acc {
				img.Pix[o+k] = uint8(clamp255((acc[k]+sub*sub/2)/(sub*sub) + noise))
			}
			img.Pix[o+3] = 255
		}
	}
	return img
}

// inside reports whether the point (x, y), in half samples, lies in o.
func inside(shape int, o object, x, y int64) bool {
	dx, dy := x-2*o.cx, y-2*o.cy // half samples
	r := 2 * o.r
	if dx > r || dx < -r || dy > r || dy < -r { // outside every shape's bounding box
		return false
	}
	switch shape {
	case 0: // circle
		return dx*dx+dy*dy <= r*r
	case 1: // square
		h := r * 4 / 5
		return abs64(dx) <= h && abs64(dy) <= h
	case 4: // cross
		a, t := abs64(dx), abs64(dy)
		w := r * 3 / 10
		return a <= w && t <= r || t <= w && a <= r
	}
	// Polygon (triangle, star): even-odd crossing test, exact in integers.
	in := false
	p := o.poly
	for i := range p {
		x1, y1 := 2*p[i][0], 2*p[i][1]
		x2, y2 := 2*p[(i+1)%len(p)][0], 2*p[(i+1)%len(p)][1]
		if (y1 > y) == (y2 > y) {
			continue
		}
		// x < x1 + (y-y1)(x2-x1)/(y2-y1), multiplied out by (y2-y1).
		lhs, rhs := (x-x1)*(y2-y1), (y-y1)*(x2-x1)
		if y2-y1 > 0 && lhs < rhs || y2-y1 < 0 && lhs > rhs {
			in = !in
		}
	}
	return in
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func clamp255(v int) int { return min(max(v, 0), 255) }

// worldManifest is what an export of the world depends on.
type worldManifest struct {
	Format    string   `json:"format"`
	Seed      uint64   `json:"seed"`
	ImageSize int      `json:"image_size"`
	Train     int      `json:"train_per_class"`
	Val       int      `json:"val_per_class"`
	Test      int      `json:"test_per_class"`
	Classes   []string `json:"classes"`
}

// worldFormat changes whenever the rendering or the class list changes, so
// that an older export is remade.
const worldFormat = "gocoop-world-1"

// ExportWorld writes the world's downstream classification set in CoOp's
// layout under root (Dassl's DATASET.ROOT): root/world/images/{train,val,
// test}/<label>/<i>.png and root/world/split_zhou_World.json, which
// Load("World", root) reads. It returns the dataset directory. The export
// is written beside the target and renamed into place; an existing export
// of the same seed, size and counts is kept as it is.
func ExportWorld(root string, cfg WorldConfig) (string, error) {
	w, err := NewWorld(cfg)
	if err != nil {
		return "", err
	}
	c := w.cfg
	names := WorldClassNames()
	man := worldManifest{Format: worldFormat, Seed: c.Seed, ImageSize: c.ImageSize, Train: c.Train, Val: c.Val, Test: c.Test, Classes: names}
	return exportCoOp(root, WorldDir, WorldImageDir, WorldSplitFile, names, man, func(emit emitFunc) error {
		for _, sp := range []struct {
			name string
			n    int
		}{{"train", c.Train}, {"val", c.Val}, {"test", c.Test}} {
			for label := range names {
				for i := range sp.n {
					img := func() image.Image {
						img, _, _ := w.Downstream(sp.name, label, i) // split and label are valid
						return img
					}
					rel := fmt.Sprintf("%s/%02d/%04d.png", sp.name, label, i)
					if err := emit(sp.name, rel, label, img); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
