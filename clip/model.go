// Package clip is CLIP ViT-B/16 in pure Go (Radford et al. 2021,
// openai/CLIP's model.py in float32): the BPE tokenizer (Tokenize), the
// image preprocessing (LoadImage, Preprocess), and the model — CLIP with its
// VisionTransformer and TextTransformer towers, built from a checkpoint by
// Load or from a state dict by FromStateDict, with every hyper-parameter
// inferred from the weights as build_model does.
//
// A loaded model's weights are frozen; EncodeTextEmbeddings is the entry
// point of CoOp/CoCoOp, whose learned prompt vectors receive the gradients.
// New builds a trainable model instead, which Pretrainer trains
// contrastively from scratch (pretrain.go).
// EncodeTextShared is its fast path for prompts that share a prefix (SOS and
// the context vectors): the prefix is computed once per image or batch and
// no position after an EOT is computed, with the same results
// (text_packed.go; TextTransformer.FullPrompts switches it off). A Trace
// set on the model exposes every block's output and attention map.
// HashStateDict makes deterministic full-size weights that the PyTorch
// reference in bench/reference reproduces bit-exactly, for parity tests.
package clip

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// Config holds the hyper-parameters of a CLIP ViT model, the arguments of
// model.py's CLIP(...) plus the head counts (width/64 in build_model).
// ConfigFromStateDict infers it from the weights; ViTB16 is the released
// ViT-B/16.
type Config struct {
	EmbedDim          int // E, joint embedding (512)
	ImageResolution   int // R (224)
	VisionLayers      int // (12)
	VisionWidth       int // D (768)
	VisionHeads       int // D/64 (12)
	VisionPatchSize   int // P (16)
	ContextLength     int // C (77)
	VocabSize         int // V (49408)
	TransformerWidth  int // W (512)
	TransformerHeads  int // W/64 (8)
	TransformerLayers int // (12)
}

// ViTB16 is the configuration of OpenAI's CLIP ViT-B/16 (docs/clip.md §1).
var ViTB16 = Config{
	EmbedDim: 512, ImageResolution: 224, VisionLayers: 12, VisionWidth: 768, VisionHeads: 12,
	VisionPatchSize: 16, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 512, TransformerHeads: 8, TransformerLayers: 12,
}

func (c Config) validate() error {
	pos := func(name string, v int) error {
		if v <= 0 {
			return fmt.Errorf("clip: config: %s = %d, want > 0", name, v)
		}
		return nil
	}
	for _, f := range []struct {
		n string
		v int
	}{
		{"EmbedDim", c.EmbedDim}, {"ImageResolution", c.ImageResolution}, {"VisionLayers", c.VisionLayers},
		{"VisionWidth", c.VisionWidth}, {"VisionHeads", c.VisionHeads}, {"VisionPatchSize", c.VisionPatchSize},
		{"ContextLength", c.ContextLength}, {"VocabSize", c.VocabSize}, {"TransformerWidth", c.TransformerWidth},
		{"TransformerHeads", c.TransformerHeads}, {"TransformerLayers", c.TransformerLayers},
	} {
		if err := pos(f.n, f.v); err != nil {
			return err
		}
	}
	if c.VisionWidth%c.VisionHeads != 0 || c.TransformerWidth%c.TransformerHeads != 0 {
		return fmt.Errorf("clip: config: widths %d/%d not divisible by heads %d/%d",
			c.VisionWidth, c.TransformerWidth, c.VisionHeads, c.TransformerHeads)
	}
	if c.ImageResolution%c.VisionPatchSize != 0 {
		return fmt.Errorf("clip: config: resolution %d not a multiple of patch %d", c.ImageResolution, c.VisionPatchSize)
	}
	return nil
}

// StateDictShapes lists the state-dict keys of a model of configuration c,
// in model.py's named_parameters order, with their shapes.
func (c Config) StateDictShapes() ([]string, map[string][]int) {
	var names []string
	shapes := map[string][]int{}
	p := func(name string, _ nn.Init, shape ...int) *autograd.Var {
		shapes[name] = shape
		return autograd.Constant(tensor.Scalar(0)) // a placeholder: only the names matter
	}
	m := newCLIP(c, p)
	for _, np := range m.NamedParameters("") {
		names = append(names, np.Name)
	}
	return names, shapes
}

// CLIP is the joint model: an image tower, a text tower and the learned
// temperature. Loaded (Load, FromStateDict), its weights are frozen autograd
// leaves (RequiresGrad false, no gradient buffers), so gradients flow
// through the towers to inputs that require grad — CoOp/CoCoOp's prompt
// vectors — and never into CLIP. Built by New, every weight requires grad
// (pretraining); nn.SetRequiresGrad switches either way.
//
// Ops record a graph only when some input requires grad, so pure inference
// records nothing; callers should still wrap inference in autograd.NoGrad to
// make that explicit and to cover trainable inputs.
//
// Batches are batch-first internally ([N, L, D]); model.py's [L, N, D]
// permutes are only a layout choice of torch.nn.MultiheadAttention.
type CLIP struct {
	Config
	Visual     *VisionTransformer
	Text       *TextTransformer
	LogitScale *autograd.Var // [] holding log(scale); exp(LogitScale) multiplies cosine similarities

	// Trace, when non-nil, collects the intermediates of every
	// EncodeImage / EncodeText / EncodeTextEmbeddings call (the latest call
	// of each tower overwrites its half).
	Trace *Trace
}

// Trace collects intermediates without changing model code: set
// model.Trace = &Trace{...} before a forward pass. Block outputs are graph
// nodes, so after the forward a caller may RetainGrad them or register
// hooks to see the gradient at any layer (before calling Backward).
type Trace struct {
	RecordAttn bool // also keep every layer's attention probabilities

	Image TowerTrace
	Text  TowerTrace
}

// TowerTrace holds one tower's intermediates from its latest forward pass.
// To trace a direct tower call (e.g. VisionTransformer.Forward on images
// that require grad), pass &m.Trace.Image and set its RecordAttn. A trace
// keeps its pass's graph alive until it is overwritten or dropped.
//
// Every *autograd.Var is a node of the pass's graph: RetainGrad it (or
// RegisterHook) before Backward to see the gradient there, or ask
// autograd.Grad for it before any Backward: a Backward frees the blocks'
// saved activations (autograd's SaveForBackward), and a later walk through
// them panics, as in PyTorch.
type TowerTrace struct {
	RecordAttn bool // copied from Trace.RecordAttn at the start of a pass

	Input    *autograd.Var    // input of block 0, [N, L, D] (after ln_pre / + positional embedding)
	Blocks   []*autograd.Var  // output of block i, [N, L, D]
	Attn     []*tensor.Tensor // attention probabilities of block i, [N, H, L, L] (RecordAttn)
	Final    *autograd.Var    // ln_post(CLS) / ln_final(EOT row), [N, D]
	Features *autograd.Var    // projected features, [N, E]

	// With RecordAttn, per block i (docs/clip.md §1.2): Probs[i] is Attn[i]
	// as a graph node (for gradient × attention; the plain route only, nil
	// on the packed path, whose probabilities are not nodes); Heads[i] the
	// per-head outputs P·v before out_proj, [N, H, L, d]; AttnBranch[i] and
	// MLPBranch[i] what the block's attention and MLP add to the residual
	// stream, [N, L, D]: Blocks[i] = input + AttnBranch[i] + MLPBranch[i].
	Probs                 []*autograd.Var
	Heads                 []*autograd.Var
	AttnBranch, MLPBranch []*autograd.Var

	// Rows is set by the packed text path (EncodeTextShared) only, whose
	// Input, Blocks, Heads and branches are packed [R, ...]: Rows[n][j] is
	// the row holding position j of prompt n, for j up to its EOT. Shared
	// prefix rows appear in the Rows of every prompt of their group.
	// PerPrompt maps packed tensors (values or gradients) to [N, L', ...];
	// Attn is already [N, H, L', L'] per block, L' = max EOT + 1, zero
	// after each EOT. Rows is set before the blocks run, so forward hooks
	// (nn.ForwardHook) can read it.
	Rows [][]int
}

func (tr *TowerTrace) reset(input *autograd.Var) {
	*tr = TowerTrace{RecordAttn: tr.RecordAttn, Input: input}
}

// newCLIP builds the module tree of configuration cfg, taking every
// parameter from p.
func newCLIP(cfg Config, p nn.Params) *CLIP {
	return &CLIP{
		Config:     cfg,
		Visual:     newVisionTransformer(cfg, p),
		Text:       newTextTransformer(cfg, p),
		LogitScale: p("logit_scale", nn.Constant(float32(math.Log(1/0.07)))),
	}
}

// NamedParameters implements nn.Module with model.py's state-dict names, in
// torch's named_parameters order: positional_embedding, text_projection,
// logit_scale, visual.*, transformer.*, token_embedding.weight, ln_final.*.
func (m *CLIP) NamedParameters(prefix string) []nn.NamedParam {
	t := m.Text
	return nn.Collect(
		nn.Leaf(prefix, "positional_embedding", t.PositionalEmbedding),
		nn.Leaf(prefix, "text_projection", t.TextProjection),
		nn.Leaf(prefix, "logit_scale", m.LogitScale),
		nn.Child(prefix, "visual", m.Visual),
		nn.Child(prefix, "transformer", t.Transformer),
		nn.Child(prefix, "token_embedding", t.TokenEmbedding),
		nn.Child(prefix, "ln_final", t.LnFinal),
	)
}

// To moves every weight of m to dev, in place, and returns m (PyTorch's
// model.to(device)): the model then computes there, and its inputs must be
// moved there too (tensor.To; no op moves data implicitly). Checkpoints are
// written from host copies.
func (m *CLIP) To(dev tensor.Device) (*CLIP, error) {
	if err := nn.To(m, dev); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return m, nil
}

// Device returns where m's weights live (tensor.CPU unless moved with To).
func (m *CLIP) Device() tensor.Device { return m.LogitScale.Value.Device() }

// EncodeImage maps preprocessed images [N, 3, R, R] to image features
// [N, E] (not normalized), model.py's encode_image.
func (m *CLIP) EncodeImage(images *tensor.Tensor) *autograd.Var {
	return m.Visual.Forward(autograd.Constant(images), m.towerTrace(true))
}

// EncodeText maps token rows (Tokenize's output: N rows of C ids, or any
// common length L ≤ C) to text features [N, E] (not normalized), model.py's
// encode_text.
func (m *CLIP) EncodeText(ids [][]int32) *autograd.Var {
	return m.EncodeTextEmbeddings(m.TokenEmbedding(ids), ids)
}

// TokenEmbedding returns the token embeddings of ids, [N, L, W]: the
// starting point of CoOp's prompts (the context tokens' rows are replaced
// by learned vectors).
func (m *CLIP) TokenEmbedding(ids [][]int32) *autograd.Var {
	return m.Text.Embed(ids)
}

// EncodeTextEmbeddings is encode_text from prompt embeddings [N, L, W]
// (L ≤ C) — the entry point of CoOp/CoCoOp: it adds the positional
// embedding, runs the causal blocks, applies ln_final, gathers each row's
// EOT token at the argmax of ids (first maximal index) and projects to
// [N, E]. Gradients flow back to prompts when it requires grad (and into
// the weights only when they require grad: not in a loaded model).
func (m *CLIP) EncodeTextEmbeddings(prompts *autograd.Var, ids [][]int32) *autograd.Var {
	return m.Text.Forward(prompts, ids, m.towerTrace(false))
}

// towerTrace returns the trace of the image or text tower, nil without
// m.Trace.
func (m *CLIP) towerTrace(image bool) *TowerTrace {
	if m.Trace == nil {
		return nil
	}
	t := &m.Trace.Text
	if image {
		t = &m.Trace.Image
	}
	t.RecordAttn = m.Trace.RecordAttn
	return t
}

// LogitsPerImage returns exp(logit_scale) · normalize(img) · normalize(txt)ᵀ,
// [N_img, N_txt], from raw features img [N_img, E] and txt [N_txt, E]
// (logits_per_text is its transpose).
func (m *CLIP) LogitsPerImage(img, txt *autograd.Var) *autograd.Var {
	img = autograd.L2Normalize(img, 1, 1e-12)      // [N_img, E]
	txt = autograd.L2Normalize(txt, 1, 1e-12)      // [N_txt, E]
	sim := autograd.MatMulT(img, txt, false, true) // [N_img, E] @ [E, N_txt]
	return autograd.Mul(sim, autograd.Exp(m.LogitScale))
}
