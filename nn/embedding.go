package nn

import (
	"github.com/gocoop/gocoop/autograd"
)

// Embedding is torch.nn.Embedding: a lookup table Weight [num, dim],
// initialized N(0, 1) as PyTorch. Parameter "weight".
type Embedding struct {
	Weight *autograd.Var // [num, dim]
	Num    int
	Dim    int
}

// NewEmbedding builds the Embedding called name, its table from p (fresh:
// N(0, init²); PyTorch's default is 1, CLIP's token embedding 0.02).
func NewEmbedding(p Params, name string, num, dim int, init float32) *Embedding {
	return &Embedding{Weight: p(JoinName(name, "weight"), Normal(init), num, dim), Num: num, Dim: dim}
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
