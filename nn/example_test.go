package nn_test

import (
	"fmt"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// State-dict names of a one-layer CLIP-style transformer of width 8.
func ExampleTransformer_NamedParameters() {
	tr := nn.NewTransformer(nn.Random(nil), "", 8, 1, 2, false)
	for _, p := range tr.NamedParameters("visual.transformer") {
		fmt.Println(p.Name, p.Var.Shape())
	}
	total, _ := nn.CountParams(tr)
	fmt.Println(total, "parameters")
	// Output:
	// visual.transformer.resblocks.0.attn.in_proj_weight [24 8]
	// visual.transformer.resblocks.0.attn.in_proj_bias [24]
	// visual.transformer.resblocks.0.attn.out_proj.weight [8 8]
	// visual.transformer.resblocks.0.attn.out_proj.bias [8]
	// visual.transformer.resblocks.0.ln_1.weight [8]
	// visual.transformer.resblocks.0.ln_1.bias [8]
	// visual.transformer.resblocks.0.mlp.c_fc.weight [32 8]
	// visual.transformer.resblocks.0.mlp.c_fc.bias [32]
	// visual.transformer.resblocks.0.mlp.c_proj.weight [8 32]
	// visual.transformer.resblocks.0.mlp.c_proj.bias [8]
	// visual.transformer.resblocks.0.ln_2.weight [8]
	// visual.transformer.resblocks.0.ln_2.bias [8]
	// 872 parameters
}

// Ablating one attention head with a head hook, and reading the block's
// residual branches as graph nodes.
func ExampleMultiheadAttention_RegisterHeadHook() {
	b := nn.NewResidualAttentionBlock(nn.Random(tensor.NewRNG(1)), "", 8, 2, true)
	x := autograd.Constant(tensor.NewRNG(2).Normal(0, 1, 1, 3, 8)) // [N, L, D]
	full := b.Forward(x)
	h := b.Attn.RegisterHeadHook(func(_, heads *autograd.Var) *autograd.Var { // heads [N, H, L, d]
		keep := tensor.Ones(heads.Shape()...)
		keep.Slice(1, 0, 1).Fill(0) // head 0 off
		return autograd.Mul(heads, autograd.Constant(keep))
	})
	b.RecordBranches = true
	ablated := b.Forward(x)
	h.Remove()
	fmt.Println("output changed:", tensor.MaxAbsDiff(full.Value, ablated.Value) > 0)
	fmt.Println("branches:", b.LastAttnBranch.Shape(), b.LastMLPBranch.Shape())
	// Output:
	// output changed: true
	// branches: [1 3 8] [1 3 8]
}
