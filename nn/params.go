package nn

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// Params supplies a module's parameters while it is built: the constructors
// (NewLinear, NewTransformer, …) ask it for each parameter by its full
// state-dict name (the name given to the constructor joined with the local
// name, e.g. "transformer.resblocks.0.attn.in_proj_weight"), its shape and
// the Init PyTorch's reset_parameters would draw it with, in registration
// order. Random draws fresh values; a checkpoint loader (clip.FromStateDict)
// returns the stored tensor and ignores init. One constructor per module
// thus serves both, and the module tree is built in one place.
type Params func(name string, init Init, shape ...int) *autograd.Var

// Init is how a parameter starts when drawn fresh.
type Init struct {
	kind  initKind
	scale float32
}

type initKind int

const (
	initConstant initKind = iota
	initUniform
	initNormal
)

// Uniform is U(−bound, bound) (kaiming-uniform with a = √5 gives
// bound = 1/√fan_in; xavier-uniform bound = √(6/(fan_in+fan_out))).
func Uniform(bound float32) Init { return Init{initUniform, bound} }

// Normal is N(0, std²).
func Normal(std float32) Init { return Init{initNormal, std} }

// Constant fills every element with v (LayerNorm's ones, zero biases).
func Constant(v float32) Init { return Init{initConstant, v} }

// draw returns a tensor of the given shape drawn with init from rng; with a
// nil rng random inits give zeros.
func (init Init) draw(rng *tensor.RNG, shape []int) *tensor.Tensor {
	switch {
	case init.kind == initConstant:
		return tensor.Full(init.scale, shape...)
	case rng == nil:
		return tensor.Zeros(shape...)
	case init.kind == initUniform:
		return rng.Uniform(-init.scale, init.scale, shape...)
	default:
		return rng.Normal(0, init.scale, shape...)
	}
}

// Random returns Params that draw every parameter from rng with its Init,
// as trainable leaves, in the order the constructors ask for them (so a
// seed gives the same module). A nil rng gives zeros for the random inits
// (constants still apply): for weights that will be loaded or overwritten.
func Random(rng *tensor.RNG) Params {
	return func(_ string, init Init, shape ...int) *autograd.Var {
		return autograd.Param(init.draw(rng, shape))
	}
}
