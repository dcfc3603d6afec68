package nn_test

import (
	"fmt"

	"github.com/gocoop/gocoop/nn"
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
