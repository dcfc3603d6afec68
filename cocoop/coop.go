package cocoop

import (
	"fmt"
	"slices"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// CoOp is context optimization (trainers/coop.py, docs/cocoop.md §5.1): a static
// learned context, generic [n_ctx, W] or class-specific (CSC) [n_cls, n_ctx,
// W], with the class token at the end, middle or front. The text encoder
// runs once per batch.
type CoOp struct {
	Model        *clip.CLIP
	Ctx          *autograd.Var // [n_ctx, W], or [n_cls, n_ctx, W] with CSC
	NCtx         int
	CSC          bool
	PromptPrefix string
	cfg          Config
	classes      *classPrompts
	cache        *featureCache // nil unless Config.CacheImageFeatures
}

// NewCoOp builds CoOp on m for classNames. As in the official code a word
// init (cfg.CtxInit) always gives a generic context: CSC applies to random
// init only.
func NewCoOp(m *clip.CLIP, cfg Config, classNames []string) (*CoOp, error) {
	if cfg.Method == "" {
		cfg.Method = MethodCoOp
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Method != MethodCoOp {
		return nil, fmt.Errorf("cocoop: NewCoOp with method %q", cfg.Method)
	}
	csc := cfg.CSC && PromptName(cfg.CtxInit) == ""
	var lead []int
	if csc {
		lead = []int{len(classNames)}
	}
	ctx, prefix, err := contextInit(m, cfg.CtxInit, cfg.NCtx, tensor.NewRNG(seedStream(cfg.Seed, streamInit)), lead...)
	if err != nil {
		return nil, err
	}
	nCtx := ctx.Dim(ctx.NDim() - 2)
	cfg.NCtx, cfg.CSC = nCtx, csc
	if ctx, err = ctx.To(m.Device()); err != nil { // the trainable lives with the model
		return nil, fmt.Errorf("cocoop: %w", err)
	}
	c := &CoOp{Model: m, Ctx: autograd.Param(ctx), NCtx: nCtx, CSC: csc, PromptPrefix: prefix, cfg: cfg}
	if cfg.CacheImageFeatures {
		c.cache = newFeatureCache()
	}
	if err := c.SetClassNames(classNames); err != nil {
		return nil, err
	}
	return c, nil
}

// Method implements Classifier.
func (c *CoOp) Method() string { return MethodCoOp }

// Config implements Learner.
func (c *CoOp) Config() Config { return c.cfg }

// CLIP implements Learner.
func (c *CoOp) CLIP() *clip.CLIP { return c.Model }

// ClassNames implements Classifier.
func (c *CoOp) ClassNames() []string { return slices.Clone(c.classes.names) }

// SetClassNames implements Classifier. With a class-specific context the
// class count is fixed: a list of another length is an error (CSC cannot
// transfer to new classes, issue #69).
func (c *CoOp) SetClassNames(names []string) error {
	if c.CSC && len(names) != c.Ctx.Value.Dim(0) {
		return fmt.Errorf("cocoop: CoOp with class-specific context learned for %d classes cannot take %d class names (CSC does not transfer to new classes)", c.Ctx.Value.Dim(0), len(names))
	}
	cp, err := newClassPrompts(c.Model, c.PromptPrefix, c.NCtx, names)
	if err != nil {
		return err
	}
	c.classes = cp
	return nil
}

// NamedParameters implements nn.Module: ctx.
func (c *CoOp) NamedParameters(prefix string) []nn.NamedParam {
	return nn.Leaf(prefix, "ctx", c.Ctx)
}

// ImageFeatures implements Classifier (through the feature cache with
// Config.CacheImageFeatures).
func (c *CoOp) ImageFeatures(images *tensor.Tensor) *tensor.Tensor {
	return c.cache.features(c.Model, images)
}

func (c *CoOp) imageCache() *featureCache { return c.cache }

// build assembles the prompts of a chunk (PromptLearner.forward of
// coop.py): end = [SOS | ctx | name . EOT]; middle = [SOS | ctx[:h] | name |
// ctx[h:] | . EOT] with h = n_ctx/2; front = [SOS | name | ctx | . EOT].
func (c *CoOp) build(ch chunk, train bool) *autograd.Var {
	cp := c.classes
	ctx := c.Ctx
	if !train {
		ctx = ctx.Detach()
	}
	pre, suf := cp.prefixSuffix(ch)
	k, w := len(ch.cls), c.Model.TransformerWidth
	if c.CSC {
		if !isAll(ch.cls, cp.n()) {
			ctx = autograd.IndexSelect(ctx, 0, ch.cls) // [k, n_ctx, W]
		}
	} else {
		ctx = autograd.Expand(autograd.Unsqueeze(ctx, 0), k, c.NCtx, w) // [k, n_ctx, W]
	}
	pos := c.cfg.position()
	if pos == PositionEnd {
		return autograd.Concat([]*autograd.Var{pre, ctx, suf}, 1)
	}
	h := c.NCtx / 2
	rows := make([]*autograd.Var, k)
	for i, cl := range ch.cls {
		nl := cp.nameLens[cl]
		p := autograd.Slice(pre, 0, i, i+1)              // [1, 1, W]
		ci := autograd.Slice(ctx, 0, i, i+1)             // [1, n_ctx, W]
		si := autograd.Slice(suf, 0, i, i+1)             // [1, Ls, W]
		name := autograd.Slice(si, 1, 0, nl)             // [1, name_len, W]
		rest := autograd.Slice(si, 1, nl, si.Shape()[1]) // [1, Ls-name_len, W]: ".", EOT, pad
		var parts []*autograd.Var
		if pos == PositionMiddle {
			parts = []*autograd.Var{p, autograd.Slice(ci, 1, 0, h), name, autograd.Slice(ci, 1, h, c.NCtx), rest}
		} else {
			parts = []*autograd.Var{p, name, ci, rest}
		}
		rows[i] = autograd.Concat(parts, 1)
	}
	return autograd.Concat(rows, 0) // [k, L, W]
}

// sharedLen is the number of leading prompt positions that are the same
// for every class: SOS and, for a generic context, the context vectors
// before the class name (all n_ctx at the end, n_ctx/2 in the middle).
func (c *CoOp) sharedLen() int {
	if c.CSC {
		return 1
	}
	switch c.cfg.position() {
	case PositionEnd:
		return 1 + c.NCtx
	case PositionMiddle:
		return 1 + c.NCtx/2
	}
	return 1
}

// encoder returns the text encoder of the prompts (G = 1), through the
// model's shared-prefix entry points: with the shortcut the shared
// positions (sharedLen) are computed once for all classes and nothing past
// each prompt's EOT. With the class token at the end and a generic context
// the prefix [SOS | ctx] is passed as is, otherwise the assembled prompts
// go through EncodeTextEmbeddingsShared.
func (c *CoOp) encoder() textEncoder {
	cp, m := c.classes, c.Model
	p := c.sharedLen()
	return func(ch chunk, train bool) *autograd.Var {
		ids := cp.chunkIDs(ch)
		if !c.CSC && c.cfg.position() == PositionEnd {
			ctx := c.Ctx
			if !train {
				ctx = ctx.Detach()
			}
			prefix := autograd.Concat([]*autograd.Var{cp.sos(1), autograd.Unsqueeze(ctx, 0)}, 1) // [1, 1+n_ctx, W]
			_, suf := cp.prefixSuffix(ch)
			return m.EncodeTextShared(prefix, suf, ids) // [1, k, E]
		}
		return autograd.Unsqueeze(m.EncodeTextEmbeddingsShared(c.build(ch, train), ids, p), 0)
	}
}

// textFeatures returns the raw text features [n_cls, E] without a graph.
func (c *CoOp) textFeatures() *tensor.Tensor {
	return textFeatures(c.Model, c.classes, c.cfg.ChunkSize, c.encoder()).Index(0, 0)
}

// LogitsFromFeatures implements Classifier: one text pass for all images
// (feats and the logits on the host).
func (c *CoOp) LogitsFromFeatures(feats *tensor.Tensor) *tensor.Tensor {
	x := autograd.Constant(toDev(feats, c.Model.Device()))
	return host(logitsOf(x, autograd.Constant(c.textFeatures()), logitScale(c.Model)).Value)
}

// Logits implements Classifier.
func (c *CoOp) Logits(images *tensor.Tensor) *tensor.Tensor {
	return c.LogitsFromFeatures(c.ImageFeatures(images))
}

// Forward returns the logits [B, n_cls] with one graph over all classes
// (no chunking), gradients reaching ctx.
func (c *CoOp) Forward(feats *tensor.Tensor) *autograd.Var {
	all := c.classes.chunks(0)[0]
	return groupLogits(autograd.Constant(toDev(feats, c.Model.Device())), c.encoder()(all, true), logitScale(c.Model))
}

// ForwardBackward implements Learner: the text encoder once for the batch,
// cross-entropy averaged over the batch.
func (c *CoOp) ForwardBackward(images *tensor.Tensor, labels []int) (res StepResult, err error) {
	err = catch(func() {
		feats := c.ImageFeatures(images)
		if len(labels) != feats.Dim(0) {
			panic(fmt.Errorf("cocoop: %d labels for %d images", len(labels), feats.Dim(0)))
		}
		loss, logits := lossBackward(c.Model, c.classes, c.cfg.ChunkSize, feats, labels, 1, c.encoder())
		res = StepResult{Loss: float64(loss), Logits: logits, Correct: correct(logits, labels)}
	})
	return res, err
}
