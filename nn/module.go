// Package nn holds the neural-network modules of GoCoOp, built on autograd:
// Linear, LayerNorm, Embedding, MultiheadAttention, ResidualAttentionBlock,
// Transformer and PatchEmbed. Names and parameter layouts follow PyTorch and
// openai/CLIP's model.py, so NamedParameters yields state-dict keys such as
// "visual.transformer.resblocks.3.attn.in_proj_weight".
//
// Activations are batch-first: a sequence batch is [N, L, D] (CLIP's model.py
// permutes to [L, N, D] for torch.nn.MultiheadAttention; the maths is per
// sequence and identical).
package nn

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// NamedParam is one parameter with its state-dict name.
type NamedParam struct {
	Name string
	Var  *autograd.Var
}

// Module is anything that owns parameters. NamedParameters returns them in
// registration order, each named prefix + "." + local name (no dot when prefix
// is empty), as torch.nn.Module.named_parameters(prefix).
type Module interface {
	NamedParameters(prefix string) []NamedParam
}

// JoinName joins a prefix and a local name with a dot, as PyTorch does.
func JoinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Child returns the parameters of child m registered under name in prefix.
func Child(prefix, name string, m Module) []NamedParam {
	return m.NamedParameters(JoinName(prefix, name))
}

// Leaf names one parameter of a module; nil vars (e.g. an absent bias) yield
// nothing.
func Leaf(prefix, name string, v *autograd.Var) []NamedParam {
	if v == nil {
		return nil
	}
	return []NamedParam{{JoinName(prefix, name), v}}
}

// Collect concatenates parameter lists.
func Collect(lists ...[]NamedParam) []NamedParam {
	var out []NamedParam
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Trainable returns the named parameters of m that require grad.
func Trainable(m Module, prefix string) []NamedParam {
	var out []NamedParam
	for _, p := range m.NamedParameters(prefix) {
		if p.Var.RequiresGrad() {
			out = append(out, p)
		}
	}
	return out
}

// SetRequiresGrad sets requires-grad on every parameter of m.
func SetRequiresGrad(m Module, on bool) {
	for _, p := range m.NamedParameters("") {
		p.Var.SetRequiresGrad(on)
	}
}

// Freeze makes every parameter of m frozen: no parameter gradients, while
// gradients still flow through m to its inputs.
func Freeze(m Module) { SetRequiresGrad(m, false) }

// CountParams returns the number of scalar parameters of m; trainable counts
// only those that require grad.
func CountParams(m Module) (total, trainable int) {
	for _, p := range m.NamedParameters("") {
		n := p.Var.Value.Numel()
		total += n
		if p.Var.RequiresGrad() {
			trainable += n
		}
	}
	return total, trainable
}

// StateDict returns name → parameter tensor (the live tensors, not copies).
func StateDict(m Module, prefix string) map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for _, p := range m.NamedParameters(prefix) {
		sd[p.Name] = p.Var.Value
	}
	return sd
}

// ShapeMismatchError reports a state-dict entry whose shape differs from
// the parameter it is loaded into.
type ShapeMismatchError struct {
	Key       string
	Want, Got []int // Want: the parameter's shape; Got: the loaded tensor's
}

func (e *ShapeMismatchError) Error() string {
	return fmt.Sprintf("nn: load %q: shape mismatch: parameter has %v, state dict has %v", e.Key, e.Want, e.Got)
}

// LoadResult lists the keys that did not pair up, as PyTorch's
// load_state_dict return value.
type LoadResult struct {
	Missing    []string // parameters with no entry in the state dict
	Unexpected []string // state-dict entries matching no parameter (sorted)
}

// LoadStateDict copies sd[name] into each parameter of m (named under
// prefix), in place, so references held by optimizers stay valid; a
// parameter on a device receives a copy there (tensor.Copy). Shape
// mismatches are always errors (one *ShapeMismatchError per key, joined);
// with strict, missing and unexpected keys are errors too. Nothing is copied
// if any error is returned.
func LoadStateDict(m Module, prefix string, sd map[string]*tensor.Tensor, strict bool) (LoadResult, error) {
	var res LoadResult
	var errs []error
	params := m.NamedParameters(prefix)
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		seen[p.Name] = true
		t, ok := sd[p.Name]
		if !ok {
			res.Missing = append(res.Missing, p.Name)
			if strict {
				errs = append(errs, fmt.Errorf("nn: load %q: missing key (parameter shape %v)", p.Name, p.Var.Shape()))
			}
			continue
		}
		if !tensor.SameShape(t.Shape(), p.Var.Shape()) {
			errs = append(errs, &ShapeMismatchError{Key: p.Name, Want: p.Var.Shape(), Got: t.Shape()})
		}
		if dt := p.Var.Value.DType(); dt != tensor.Float32 {
			errs = append(errs, fmt.Errorf("nn: load %q: the parameter stores %v (clip.ConvertWeights, tensor.PrepackLinear) and takes no values in place; load into a float32 model", p.Name, dt))
		}
	}
	for k := range sd {
		if !seen[k] {
			res.Unexpected = append(res.Unexpected, k)
		}
	}
	sort.Strings(res.Unexpected)
	if strict {
		for _, k := range res.Unexpected {
			errs = append(errs, fmt.Errorf("nn: load %q: unexpected key (shape %v)", k, sd[k].Shape()))
		}
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	for _, p := range params {
		if t, ok := sd[p.Name]; ok {
			tensor.Copy(p.Var.Value, t) // onto the parameter's device (CopyFrom on the CPU)
		}
	}
	return res, nil
}

// itoa names list children ("resblocks.3").
func itoa(i int) string { return strconv.Itoa(i) }
