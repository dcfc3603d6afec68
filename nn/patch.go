package nn

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/autograd"
)

// PatchEmbed is CLIP's conv1: Conv2d(C, D, kernel = stride = P, bias=False)
// computed as im2col + matmul. Parameter "weight" [D, C, P, P].
type PatchEmbed struct {
	Weight       *autograd.Var // [D, C, P, P]
	InCh, Dim, P int
}

// NewPatchEmbed builds the layer called name, its weight from p (fresh:
// Conv2d's default init, U(±1/√(C·P·P))).
func NewPatchEmbed(p Params, name string, inCh, dim, patch int) *PatchEmbed {
	bound := Uniform(float32(1 / math.Sqrt(float64(inCh*patch*patch))))
	return &PatchEmbed{
		Weight: p(JoinName(name, "weight"), bound, dim, inCh, patch, patch),
		InCh:   inCh, Dim: dim, P: patch,
	}
}

// Forward maps images x [N, C, H, W] to patch tokens [N, (H/P)·(W/P), D],
// patches in row-major (gy, gx) order. As Conv2d, trailing rows/columns that
// do not fill a patch are dropped.
func (pe *PatchEmbed) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 || s[1] != pe.InCh || s[2] < pe.P || s[3] < pe.P {
		panic(fmt.Sprintf("nn.PatchEmbed: input %v, want [N, %d, H>=%d, W>=%d]", s, pe.InCh, pe.P, pe.P))
	}
	n, c, p := s[0], s[1], pe.P
	gh, gw := s[2]/p, s[3]/p
	if s[2] != gh*p {
		x = autograd.Slice(x, 2, 0, gh*p) // [N, C, H, W] -> [N, C, gh·P, W]
	}
	if s[3] != gw*p {
		x = autograd.Slice(x, 3, 0, gw*p) // [N, C, H', W] -> [N, C, H', gw·P]
	}
	x = autograd.Reshape(x, n, c, gh, p, gw, p) // [N, C, H, W] -> [N, C, gh, P, gw, P]
	x = autograd.Permute(x, 0, 2, 4, 1, 3, 5)   // -> [N, gh, gw, C, P, P]
	x = autograd.Reshape(x, n, gh*gw, c*p*p)    // -> [N, gh·gw, C·P·P], vector order (c, ky, kx)
	w := autograd.Reshape(pe.Weight, pe.Dim, c*p*p)
	return autograd.Linear(x, w, nil) // [N, gh·gw, C·P·P] -> [N, gh·gw, D]
}

// NamedParameters implements Module.
func (pe *PatchEmbed) NamedParameters(prefix string) []NamedParam {
	return Leaf(prefix, "weight", pe.Weight)
}
