package nn

import (
	"math"

	"github.com/gocoop/gocoop/autograd"
)

// Linear is torch.nn.Linear: y = x·Wᵀ + b with Weight [out, in] and optional
// Bias [out]. Parameters "weight", "bias".
type Linear struct {
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out], or nil
	In     int
	Out    int
}

// NewLinear builds the Linear called name, its parameters from p; fresh
// ones get PyTorch's default init: kaiming-uniform with a = √5, i.e.
// W ~ U(±1/√in), and b ~ U(±1/√in).
func NewLinear(p Params, name string, in, out int, bias bool) *Linear {
	l := &Linear{In: in, Out: out}
	bound := Uniform(float32(1 / math.Sqrt(float64(in))))
	l.Weight = p(JoinName(name, "weight"), bound, out, in)
	if bias {
		l.Bias = p(JoinName(name, "bias"), bound, out)
	}
	return l
}

// Forward maps x [..., in] to [..., out].
func (l *Linear) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Linear(x, l.Weight, l.Bias)
}

// NamedParameters implements Module.
func (l *Linear) NamedParameters(prefix string) []NamedParam {
	return Collect(Leaf(prefix, "weight", l.Weight), Leaf(prefix, "bias", l.Bias))
}
