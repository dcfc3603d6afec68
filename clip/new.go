package clip

import (
	"math"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// New builds a trainable CLIP of configuration cfg with fresh weights drawn
// from rng as model.py's CLIP.__init__ and initialize_parameters draw them:
//
//	token_embedding N(0, 0.02), positional_embedding N(0, 0.01)
//	text blocks: attn.in_proj_weight N(0, W^-½), attn.out_proj.weight and
//	  mlp.c_proj.weight N(0, W^-½·(2L)^-½), mlp.c_fc.weight N(0, (2W)^-½)
//	text_projection N(0, W^-½)
//	visual class/positional embedding and proj: D^-½·randn
//	logit_scale ln(1/0.07)
//
// and every other parameter with PyTorch's default init (Linear, Conv2d,
// LayerNorm, MultiheadAttention). Every parameter requires grad, so
// gradients reach all weights (patch embedding included); a seed gives the
// same model. SaveSafetensors writes it with OpenAI's names and its
// configuration, and Load reads it back whatever its head counts.
func New(cfg Config, rng *tensor.RNG) (*CLIP, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w, layers := float64(cfg.TransformerWidth), float64(cfg.TransformerLayers)
	attnStd := float32(math.Pow(w, -0.5))
	projStd := float32(math.Pow(w, -0.5) * math.Pow(2*layers, -0.5))
	fcStd := float32(math.Pow(2*w, -0.5))
	draw := nn.Random(rng)
	p := func(name string, init nn.Init, shape ...int) *autograd.Var {
		if rest, ok := strings.CutPrefix(name, "transformer.resblocks."); ok {
			_, local, _ := strings.Cut(rest, ".")
			switch local {
			case "attn.in_proj_weight":
				init = nn.Normal(attnStd)
			case "attn.out_proj.weight", "mlp.c_proj.weight":
				init = nn.Normal(projStd)
			case "mlp.c_fc.weight":
				init = nn.Normal(fcStd)
			}
		}
		return draw(name, init, shape...)
	}
	return newCLIP(cfg, p), nil
}
