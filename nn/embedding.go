package nn

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// Embedding is torch.nn.Embedding: a lookup table Weight [num, dim],
// initialized N(0, 1) as PyTorch. Parameter "weight".
type Embedding struct {
	Weight *autograd.Var // [num, dim]
	Num    int
	Dim    int
}

// NewEmbedding builds an Embedding; a nil rng leaves the table zero.
func NewEmbedding(num, dim int, rng *tensor.RNG) *Embedding {
	w := tensor.Zeros(num, dim)
	if rng != nil {
		w = rng.Normal(0, 1, num, dim)
	}
	return &Embedding{Weight: autograd.Param(w), Num: num, Dim: dim}
}

// Forward looks up ids and returns [shape..., dim]; with no shape the result
// is [len(ids), dim]. ids are row-major over shape (e.g. shape = N, 77 for a
// batch of token rows).
func (e *Embedding) Forward(ids []int, shape ...int) *autograd.Var {
	x := autograd.IndexSelect(e.Weight, 0, ids) // [len(ids), dim]
	if len(shape) == 0 {
		return x
	}
	return autograd.Reshape(x, append(append([]int{}, shape...), e.Dim)...) // [len(ids), dim] -> [shape..., dim]
}

// NamedParameters implements Module.
func (e *Embedding) NamedParameters(prefix string) []NamedParam {
	return Leaf(prefix, "weight", e.Weight)
}
