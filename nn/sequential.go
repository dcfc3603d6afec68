package nn

import "github.com/gocoop/gocoop/autograd"

// Layer is a Module with a one-input forward.
type Layer interface {
	Module
	Forward(x *autograd.Var) *autograd.Var
}

// Sequential is torch.nn.Sequential(OrderedDict(...)): layers applied in
// order, children named by Names (e.g. CoCoOp's meta_net: "linear1",
// "relu", "linear2").
type Sequential struct {
	Names  []string
	Layers []Layer
}

// Add appends a named layer and returns s.
func (s *Sequential) Add(name string, l Layer) *Sequential {
	s.Names = append(s.Names, name)
	s.Layers = append(s.Layers, l)
	return s
}

// Forward applies the layers in order.
func (s *Sequential) Forward(x *autograd.Var) *autograd.Var {
	for _, l := range s.Layers {
		x = l.Forward(x)
	}
	return x
}

// NamedParameters implements Module.
func (s *Sequential) NamedParameters(prefix string) []NamedParam {
	var out []NamedParam
	for i, l := range s.Layers {
		out = append(out, Child(prefix, s.Names[i], l)...)
	}
	return out
}

// ReLU is a parameter-free Layer.
type ReLU struct{}

// Forward returns max(x, 0) (autograd.Relu).
func (ReLU) Forward(x *autograd.Var) *autograd.Var { return autograd.Relu(x) }

// NamedParameters implements Module (none).
func (ReLU) NamedParameters(string) []NamedParam { return nil }
