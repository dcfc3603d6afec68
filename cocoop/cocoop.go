package cocoop

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// contextInit returns the initial context vectors and the prompt prefix
// (docs/cocoop.md §1.2): with ctxInit ("_" → space), n_ctx = its word count, ctx =
// token-embedding rows 1..n_ctx of its tokenization (SOS excluded) and the
// prefix is the init text; without, ctx ~ N(0, 0.02²) of shape
// [lead..., n_ctx, W] and the prefix is "X X … X".
func contextInit(m *clip.CLIP, ctxInit string, nCtx int, rng *tensor.RNG, lead ...int) (*tensor.Tensor, string, error) {
	w := m.TransformerWidth
	if init := strings.Join(strings.Fields(PromptName(ctxInit)), " "); init != "" {
		n := len(strings.Fields(init))
		ids, err := clip.Tokenize([]string{init}, m.ContextLength, false)
		if err != nil {
			return nil, "", fmt.Errorf("cocoop: ctx init %q: %w", ctxInit, err)
		}
		emb := m.TokenEmbedding(ids)                          // [1, C, W]
		ctx := emb.Value.Index(0, 0).Slice(0, 1, 1+n).Clone() // [n_ctx, W]
		return ctx, init, nil
	}
	shape := append(slices.Clone(lead), nCtx, w)
	return rng.Normal(0, 0.02, shape...), strings.TrimSpace(strings.Repeat("X ", nCtx)), nil
}

// PromptLearner holds CoCoOp's trainables (trainers/cocoop.py
// PromptLearner): the shared context ctx [n_ctx, W] and the meta-net
// Linear(E → E/16) → ReLU → Linear(E/16 → W), with the official names ctx,
// meta_net.linear1.{weight,bias}, meta_net.linear2.{weight,bias}.
type PromptLearner struct {
	Ctx          *autograd.Var // [n_ctx, W]
	MetaNet      *nn.Sequential
	Linear1      *nn.Linear // [E/16, E]
	Linear2      *nn.Linear // [W, E/16]
	NCtx         int
	PromptPrefix string // ctx init text or "X X … X"
}

// NewPromptLearner builds the trainables for m: ctx from ctxInit or N(0,
// 0.02²) (nCtx vectors), the meta-net with PyTorch's default Linear init,
// all drawn from rng in that order.
func NewPromptLearner(m *clip.CLIP, ctxInit string, nCtx int, rng *tensor.RNG) (*PromptLearner, error) {
	ctx, prefix, err := contextInit(m, ctxInit, nCtx, rng)
	if err != nil {
		return nil, err
	}
	vis, hidden := m.EmbedDim, m.EmbedDim/16
	if hidden == 0 {
		return nil, fmt.Errorf("cocoop: meta-net: vision feature dim %d < 16", vis)
	}
	p := &PromptLearner{
		Ctx:          autograd.Param(ctx),
		Linear1:      nn.NewLinear(nn.Random(rng), "meta_net.linear1", vis, hidden, true),
		Linear2:      nn.NewLinear(nn.Random(rng), "meta_net.linear2", hidden, m.TransformerWidth, true),
		NCtx:         ctx.Dim(0),
		PromptPrefix: prefix,
	}
	p.MetaNet = (&nn.Sequential{}).Add("linear1", p.Linear1).Add("relu", nn.ReLU{}).Add("linear2", p.Linear2)
	if err := nn.To(p, m.Device()); err != nil { // the trainables live with the model
		return nil, fmt.Errorf("cocoop: %w", err)
	}
	return p, nil
}

// NamedParameters implements nn.Module: ctx, meta_net.linear1.weight, ...
func (p *PromptLearner) NamedParameters(prefix string) []nn.NamedParam {
	return nn.Collect(nn.Leaf(prefix, "ctx", p.Ctx), nn.Child(prefix, "meta_net", p.MetaNet))
}

// Pi is the meta-net on normalized image features x [B, E] → [B, W]. With
// train false it uses detached weights and records no graph.
func (p *PromptLearner) Pi(x *autograd.Var, train bool) *autograd.Var {
	if train {
		return p.MetaNet.Forward(x)
	}
	h := autograd.Relu(autograd.Linear(x, p.Linear1.Weight.Detach(), p.Linear1.Bias.Detach()))
	return autograd.Linear(h, p.Linear2.Weight.Detach(), p.Linear2.Bias.Detach())
}

// CoCoOp is the conditional prompt learner on a frozen CLIP (docs/cocoop.md §1).
type CoCoOp struct {
	Model   *clip.CLIP
	Prompt  *PromptLearner
	cfg     Config
	classes *classPrompts
	cache   *featureCache // nil unless Config.CacheImageFeatures
}

// NewCoCoOp builds CoCoOp on m for classNames, initialized from
// cfg.Seed (cfg.Method must be MethodCoCoOp).
func NewCoCoOp(m *clip.CLIP, cfg Config, classNames []string) (*CoCoOp, error) {
	if cfg.Method == "" {
		cfg.Method = MethodCoCoOp
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Method != MethodCoCoOp {
		return nil, fmt.Errorf("cocoop: NewCoCoOp with method %q", cfg.Method)
	}
	p, err := NewPromptLearner(m, cfg.CtxInit, cfg.NCtx, tensor.NewRNG(seedStream(cfg.Seed, streamInit)))
	if err != nil {
		return nil, err
	}
	cfg.NCtx = p.NCtx
	c := &CoCoOp{Model: m, Prompt: p, cfg: cfg}
	if cfg.CacheImageFeatures {
		c.cache = newFeatureCache()
	}
	if err := c.SetClassNames(classNames); err != nil {
		return nil, err
	}
	return c, nil
}

// Method implements Classifier.
func (c *CoCoOp) Method() string { return MethodCoCoOp }

// Config implements Learner.
func (c *CoCoOp) Config() Config { return c.cfg }

// CLIP implements Learner.
func (c *CoCoOp) CLIP() *clip.CLIP { return c.Model }

// ClassNames implements Classifier.
func (c *CoCoOp) ClassNames() []string { return slices.Clone(c.classes.names) }

// SetClassNames implements Classifier: it rebuilds token_prefix and
// token_suffix from the tokenized "{prefix} {name}." prompts.
func (c *CoCoOp) SetClassNames(names []string) error {
	cp, err := newClassPrompts(c.Model, c.Prompt.PromptPrefix, c.Prompt.NCtx, names)
	if err != nil {
		return err
	}
	c.classes = cp
	return nil
}

// NamedParameters implements nn.Module (the trainables only).
func (c *CoCoOp) NamedParameters(prefix string) []nn.NamedParam {
	return c.Prompt.NamedParameters(prefix)
}

// ImageFeatures implements Classifier (through the feature cache with
// Config.CacheImageFeatures).
func (c *CoCoOp) ImageFeatures(images *tensor.Tensor) *tensor.Tensor {
	return c.cache.features(c.Model, images)
}

func (c *CoCoOp) imageCache() *featureCache { return c.cache }

// builder returns the prompt builder of one image's shifted context s
// [n_ctx, W]: [SOS | s | suffix] for each class of a chunk.
func (c *CoCoOp) builder(cp *classPrompts, s *autograd.Var) promptBuilder {
	return func(ch chunk, train bool) *autograd.Var {
		ctx := s
		if !train {
			ctx = s.Detach()
		}
		pre, suf := cp.prefixSuffix(ch)
		k := len(ch.cls)
		ctxE := autograd.Expand(autograd.Unsqueeze(ctx, 0), k, cp.nCtx, ctx.Shape()[1]) // [k, n_ctx, W]
		return autograd.Concat([]*autograd.Var{pre, ctxE, suf}, 1)                      // [k, L, W]
	}
}

// encoder is the text-tower shortcut for the images of s, their
// shifted contexts [G, n_ctx, W]: prefix [G, 1+n_ctx, W] = [SOS | s_g],
// computed once per image and layer, suffix the classes' token_suffix cut
// after the chunk's last EOT, one clip.EncodeTextShared call → [G, k, E].
func (c *CoCoOp) encoder(cp *classPrompts, s *autograd.Var) textEncoder {
	return func(ch chunk, train bool) *autograd.Var {
		ctx := s
		if !train {
			ctx = s.Detach()
		}
		prefix := autograd.Concat([]*autograd.Var{cp.sos(ctx.Shape()[0]), ctx}, 1) // [G, 1+n_ctx, W]
		_, suf := cp.prefixSuffix(ch)                                              // [k, length-1-n_ctx, W]
		return c.Model.EncodeTextShared(prefix, suf, cp.chunkIDs(ch))
	}
}

// imagesPerCall is how many images share one text-encoder call. With the
// model's FullPrompts route it is one, as the official CoCoOp encodes each
// image's prompts in turn. With the shortcut: all of them with ChunkSize 0;
// one when the classes need several chunks; otherwise as many as fit in
// the rows that ChunkSize prompts cut after the last EOT would take
// (ChunkSize · length), the shortcut computing 1 + n_ctx rows per image
// plus, per class, its positions after the context up to its EOT.
func (c *CoCoOp) imagesPerCall(cp *classPrompts, b int) int {
	size, n := c.cfg.ChunkSize, cp.n()
	if c.Model.Text.FullPrompts {
		return 1
	}
	if size <= 0 {
		return b
	}
	if n > size {
		return 1
	}
	p := 1 + cp.nCtx
	rows := p
	for _, e := range cp.eot {
		rows += e + 1 - p
	}
	return max(1, min(b, size*cp.length/rows))
}

// shifted returns ctx + π(x) [B, n_ctx, W] (the same π added to every
// context vector), with a graph when train is set.
func (c *CoCoOp) shifted(x *tensor.Tensor, train bool) *autograd.Var {
	pi := c.Prompt.Pi(autograd.Constant(toDev(x, c.Model.Device())), train) // [B, W]
	ctx := c.Prompt.Ctx
	if !train {
		ctx = ctx.Detach()
	}
	return autograd.Add(autograd.Unsqueeze(ctx, 0), autograd.Unsqueeze(pi, 1)) // [1, n_ctx, W] + [B, 1, W]
}

// LogitsFromFeatures implements Classifier: the text encoder over all
// classes with ctx + π(x̂ᵢ) for each image, no graph, imagesPerCall images
// per text-encoder call. feats and the logits are host tensors.
func (c *CoCoOp) LogitsFromFeatures(feats *tensor.Tensor) *tensor.Tensor {
	b, n := feats.Dim(0), c.classes.n()
	dev := c.Model.Device()
	sh := c.shifted(feats, false).Value // [B, n_ctx, W]
	scale := logitScale(c.Model)
	out := tensor.New(b, n)
	group := c.imagesPerCall(c.classes, b)
	for lo := 0; lo < b; lo += group {
		hi := min(b, lo+group)
		t := textFeatures(c.Model, c.classes, c.cfg.ChunkSize, c.encoder(c.classes, autograd.Constant(sh.Slice(0, lo, hi)))) // [hi-lo, n, E]
		l := groupLogits(autograd.Constant(toDev(feats.Slice(0, lo, hi), dev)), autograd.Constant(t), scale)                 // [hi-lo, n]
		copy(out.Data()[lo*n:hi*n], host(l.Value).Contiguous().Data())
	}
	return out
}

// Logits implements Classifier.
func (c *CoCoOp) Logits(images *tensor.Tensor) *tensor.Tensor {
	return c.LogitsFromFeatures(c.ImageFeatures(images))
}

// Forward returns the logits [B, n_cls] of normalized image features with
// one graph over all classes (no chunking), from which gradients reach ctx
// and the meta-net: the paper's forward, for analysis and tests. Training
// uses ForwardBackward, whose memory is bounded. All images go through one
// clip.EncodeTextShared call.
func (c *CoCoOp) Forward(feats *tensor.Tensor) *autograd.Var {
	sh := c.shifted(feats, true) // [B, n_ctx, W]
	all := c.classes.chunks(0)[0]
	return groupLogits(autograd.Constant(toDev(feats, c.Model.Device())), c.encoder(c.classes, sh)(all, true), logitScale(c.Model))
}

// ForwardBackward implements Learner: x̂ = normalize(encode_image), π(x̂),
// and for each image the cross-entropy over all classes (chunked), with the
// gradient of the batch mean accumulated into ctx and the meta-net.
//
// The shifted contexts ctx + π(x̂ᵢ) of the images of one text-encoder call
// (imagesPerCall) are a
// separate leaf while their text passes run, so only those images' (and one
// chunk's) activations are alive at a time; the leaves' gradients are then
// passed through the meta-net.
func (c *CoCoOp) ForwardBackward(images *tensor.Tensor, labels []int) (res StepResult, err error) {
	err = catch(func() { res = c.forwardBackward(c.ImageFeatures(images), labels) })
	return res, err
}

func (c *CoCoOp) forwardBackward(feats *tensor.Tensor, labels []int) StepResult {
	b := feats.Dim(0)
	if len(labels) != b {
		panic(fmt.Errorf("cocoop: %d labels for %d images", len(labels), b))
	}
	sh := c.shifted(feats, true) // [B, n_ctx, W]
	n := c.classes.n()
	res := StepResult{Logits: tensor.New(b, n)}
	group := c.imagesPerCall(c.classes, b)
	var loss float64
	var dsh []*tensor.Tensor // the leaves' gradients, in image order
	for lo := 0; lo < b; lo += group {
		hi := min(b, lo+group)
		s := autograd.Param(sh.Value.Slice(0, lo, hi).Clone()) // [hi-lo, n_ctx, W] leaf
		enc := c.encoder(c.classes, s)
		l, logits := lossBackward(c.Model, c.classes, c.cfg.ChunkSize, feats.Slice(0, lo, hi).Clone(),
			labels[lo:hi], float32(hi-lo)/float32(b), enc)
		loss += float64(l) * float64(hi-lo)
		dsh = append(dsh, s.Grad)
		copy(res.Logits.Data()[lo*n:hi*n], logits.Contiguous().Data())
	}
	sh.BackwardWith(tensor.Concat(dsh, 0))
	res.Loss = loss / float64(b)
	res.Correct = correct(res.Logits, labels)
	return res
}

// correct counts the rows of logits whose argmax is the label.
func correct(logits *tensor.Tensor, labels []int) int {
	k := 0
	for i, p := range tensor.Argmax(logits, 1) {
		if p == labels[i] {
			k++
		}
	}
	return k
}
