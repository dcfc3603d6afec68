package cocoop

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// LayerGrad is the gradient norm of one meta-net layer's parameters.
type LayerGrad struct {
	Layer          string // "linear1", "linear2"
	WeightGradNorm float64
	BiasGradNorm   float64
}

// ClassInspection is the gradient flow and attention of one class prompt
// of one image.
type ClassInspection struct {
	Name   string
	Prompt string // prompt text before the context is learned ("a photo of a {name}.")
	EOT    int    // EOT position
	// Tokens names the positions 0..EOT: "SOS", "ctx1".."ctxN" (learned
	// vectors), then the name's BPE tokens as text ("red", "circle", "."),
	// and "EOT".
	Tokens []string
	Logit  float64
	Prob   float64

	// PromptGradNorm is ‖∂loss/∂prompt embeddings‖ of this class's
	// prompt; PromptGradNormPos the norm at each position 0..EOT (0 = SOS,
	// 1..n_ctx = context, then name tokens, ".", EOT).
	PromptGradNorm    float64
	PromptGradNormPos []float64
	// BlockGradNorms[l] is ‖∂loss/∂output of text block l‖ over this
	// class's positions.
	BlockGradNorms []float64
	// BlockGradNormsPos[l][j] is ‖∂loss/∂output of text block l‖ at
	// position j ≤ EOT. At the last block only EOT is nonzero: the class
	// feature reads that row alone.
	BlockGradNormsPos [][]float64
	// EOTAttention[l][j] is the attention of the EOT query to key position
	// j ≤ EOT in layer l, averaged over heads; EOTAttentionHeads[l][h][j]
	// per head.
	EOTAttention      [][]float64
	EOTAttentionHeads [][][]float64
	// EOTGradAttention[l][j] is gradient × attention at the EOT query,
	// the head mean of max(0, ∂loss/∂P ⊙ P) (Chefer et al., 2021): how much
	// the loss is moved by what the class feature reads from position j.
	EOTGradAttention [][]float64
}

// ImageInspection is what one image of the batch contributes.
type ImageInspection struct {
	Label int
	Loss  float64 // this image's cross-entropy

	Pi         []float64 // π(x̂) [W], added to every context vector
	PiNorm     float64
	PiGradNorm float64 // ‖∂loss/∂π(x̂)‖ = ‖Σ_m ∂loss/∂(ctx_m + π(x̂))‖
	// CtxGradNorms[m] is ‖∂loss/∂(ctx_m + π(x̂))‖, the gradient reaching
	// context vector m through this image's prompts.
	CtxGradNorms []float64

	Classes []ClassInspection
}

// GradInspection is one CoCoOp forward/backward on a batch, seen from
// inside (docs/cocoop.md §1.4): what reaches ctx and the meta-net, through
// which layers, per context vector, image and class.
type GradInspection struct {
	Loss   float64 // batch mean cross-entropy, as training minimizes
	NCtx   int
	Layers int
	Heads  int

	CtxGradNorm float64 // ‖∂loss/∂ctx‖
	// CtxVecGradNorms[m] is ‖∂loss/∂ctx_m‖, summed over the images.
	CtxVecGradNorms []float64
	PromptGradNorm  float64 // ‖∂loss/∂prompt embeddings‖, all images and classes
	// BlockGradNorms[l] is ‖∂loss/∂output of text block l‖ over all
	// images, classes and positions.
	BlockGradNorms []float64
	MetaNet        []LayerGrad

	Images []ImageInspection
}

// InspectGradients runs CoCoOp's forward and backward for images
// ([B, 3, R, R], or one [3, R, R]) with labels (one per image), over
// classNames (nil: c's current classes; c's own list is left unchanged),
// with one graph over all images and classes (ForwardTrace) recording every
// text block's output and attention. It leaves c's parameter gradients
// cleared.
//
// Inspection takes the full text route (clip.TextTransformer.FullPrompts)
// whatever the model says: only there does every class prompt have its own
// context positions, so that per-class gradients at SOS and the context
// exist (the shortcut computes them once per image, docs/cocoop.md §7).
func InspectGradients(c *CoCoOp, images *tensor.Tensor, labels []int, classNames []string) (ins *GradInspection, err error) {
	cp := c.classes
	if classNames != nil {
		if cp, err = newClassPrompts(c.Model, c.Prompt.PromptPrefix, c.Prompt.NCtx, classNames); err != nil {
			return nil, err
		}
	}
	if images.NDim() == 3 {
		images = images.Unsqueeze(0)
	}
	if images.NDim() != 4 || images.Dim(0) != len(labels) {
		return nil, fmt.Errorf("cocoop: inspect: %d labels for images of shape %v", len(labels), images.Shape())
	}
	for i, l := range labels {
		if l < 0 || l >= cp.n() {
			return nil, fmt.Errorf("cocoop: inspect: label %d of image %d outside [0, %d)", l, i, cp.n())
		}
	}
	text := c.Model.Text
	savedClasses, savedFull := c.classes, text.FullPrompts
	defer func() { c.classes, text.FullPrompts = savedClasses, savedFull }()
	c.classes, text.FullPrompts = cp, true
	clearGrads(c)
	defer clearGrads(c)
	err = catch(func() { ins = c.inspect(c.ImageFeatures(images), labels) })
	return ins, err
}

func clearGrads(c *CoCoOp) {
	for _, p := range c.NamedParameters("") {
		p.Var.ZeroGrad()
	}
}

func (c *CoCoOp) inspect(feats *tensor.Tensor, labels []int) *GradInspection {
	cp := c.classes
	tr := c.ForwardTrace(feats, true)
	tr.Pi.RetainGrad()
	tr.Ctx.RetainGrad()
	tr.Prompts.RetainGrad()
	text := tr.Text
	for l := range text.Blocks {
		text.Blocks[l].RetainGrad()
		text.Probs[l].RetainGrad()
	}
	loss := autograd.CrossEntropy(tr.Logits, labels)
	loss.Backward()

	// What is read below, on the host (downloaded once each from a device).
	ctxGrad, promptsGrad := host(c.Prompt.Ctx.Grad), host(tr.Prompts.Grad)
	piValue, piGrad, shiftedGrad := host(tr.Pi.Value), host(tr.Pi.Grad), host(tr.Ctx.Grad)
	blockGrads := make([]*tensor.Tensor, len(text.Blocks))
	probs, probGrads := make([]*tensor.Tensor, len(text.Blocks)), make([]*tensor.Tensor, len(text.Blocks))
	for l, b := range text.Blocks {
		blockGrads[l], probs[l], probGrads[l] = host(b.Grad), host(text.Probs[l].Value), host(text.Probs[l].Grad)
	}
	ins := &GradInspection{
		Loss: float64(item(loss.Value)), NCtx: c.Prompt.NCtx, Layers: len(text.Blocks),
		CtxGradNorm:     norm(ctxGrad),
		CtxVecGradNorms: rowNorms(ctxGrad),
		PromptGradNorm:  norm(promptsGrad),
	}
	if len(text.Attn) > 0 {
		ins.Heads = text.Attn[0].Dim(1)
	}
	for _, g := range blockGrads {
		ins.BlockGradNorms = append(ins.BlockGradNorms, norm(g))
	}
	for _, l := range []struct {
		name string
		w, b *autograd.Var
	}{{"linear1", c.Prompt.Linear1.Weight, c.Prompt.Linear1.Bias}, {"linear2", c.Prompt.Linear2.Weight, c.Prompt.Linear2.Bias}} {
		ins.MetaNet = append(ins.MetaNet, LayerGrad{Layer: l.name, WeightGradNorm: norm(l.w.Grad), BiasGradNorm: norm(l.b.Grad)})
	}
	logits := host(tr.Logits.Value)
	classProbs := tensor.Softmax(logits, 1)
	k := cp.n()
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		panic(err)
	}
	for i, label := range labels {
		im := ImageInspection{
			Label:        label,
			Loss:         -math.Log(float64(classProbs.At(i, label))),
			PiNorm:       norm(piValue.Index(0, i)),
			PiGradNorm:   norm(piGrad.Index(0, i)),
			CtxGradNorms: rowNorms(shiftedGrad.Index(0, i)),
		}
		for _, v := range piValue.Index(0, i).ToSlice() {
			im.Pi = append(im.Pi, float64(v))
		}
		for ci, name := range cp.names {
			n := i*k + ci // the prompt's row in the text trace
			e := cp.eot[ci]
			pg := promptsGrad.Index(0, i).Index(0, ci) // [L, W]
			cl := ClassInspection{
				Name: name, Prompt: cp.texts[ci], EOT: e,
				Logit: float64(logits.At(i, ci)), Prob: float64(classProbs.At(i, ci)),
				PromptGradNorm:    norm(pg),
				PromptGradNormPos: rowNorms(pg.Slice(0, 0, e+1)),
				Tokens:            positionTokens(tok, cp.ids[ci], c.Prompt.NCtx, e),
			}
			for l, bg := range blockGrads {
				cl.BlockGradNorms = append(cl.BlockGradNorms, norm(bg.Index(0, n)))
				cl.BlockGradNormsPos = append(cl.BlockGradNormsPos, rowNorms(bg.Index(0, n).Slice(0, 0, e+1)))
				p, g := probs[l].Index(0, n), probGrads[l].Index(0, n) // [H, L, L]
				heads := make([][]float64, p.Dim(0))
				mean, gradMean := make([]float64, e+1), make([]float64, e+1)
				for h := range heads {
					row, grow := p.Index(0, h).Index(0, e).ToSlice(), g.Index(0, h).Index(0, e).ToSlice() // query = EOT
					heads[h] = make([]float64, e+1)
					for j := 0; j <= e; j++ {
						heads[h][j] = float64(row[j])
						mean[j] += float64(row[j]) / float64(len(heads))
						gradMean[j] += max(0, float64(grow[j])*float64(row[j])) / float64(len(heads))
					}
				}
				cl.EOTAttention = append(cl.EOTAttention, mean)
				cl.EOTAttentionHeads = append(cl.EOTAttentionHeads, heads)
				cl.EOTGradAttention = append(cl.EOTGradAttention, gradMean)
			}
			im.Classes = append(im.Classes, cl)
		}
		ins.Images = append(ins.Images, im)
	}
	return ins
}

// positionTokens names the positions 0..eot of a prompt of ids with nCtx
// context vectors after SOS (ClassInspection.Tokens).
func positionTokens(tok *clip.Tokenizer, ids []int32, nCtx, eot int) []string {
	out := make([]string, eot+1)
	for j := range out {
		switch {
		case j == 0:
			out[j] = "SOS"
		case j <= nCtx:
			out[j] = "ctx" + strconv.Itoa(j)
		case j == eot:
			out[j] = "EOT"
		default:
			out[j] = strings.TrimSpace(tok.Decode([]int{int(ids[j])}))
		}
	}
	return out
}

// rowNorms returns the norm of each row t[i] of t [n, ...] (downloaded
// first from a device).
func rowNorms(t *tensor.Tensor) []float64 {
	t = host(t)
	out := make([]float64, t.Dim(0))
	for i := range out {
		out[i] = norm(t.Index(0, i))
	}
	return out
}

// norm is the Euclidean norm of t (0 for nil), accumulated in float64 (on
// the host: a device tensor is downloaded).
func norm(t *tensor.Tensor) float64 {
	if t == nil {
		return 0
	}
	s := 0.0
	for _, v := range host(t).ToSlice() {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// WriteCSV writes the inspection as tidy rows "kind,image,class,layer,
// head,position,value" (empty fields where they do not apply; image is the
// 0-based image of the batch):
//
//	loss, ctx_grad_norm, prompt_grad_norm               one row each
//	ctx_vec_grad_norm                                   per context vector (position = m)
//	total_block_grad_norm                               per layer
//	meta_weight_grad_norm, meta_bias_grad_norm          layer = linear1/linear2
//	label, image_loss, pi_norm, pi_grad_norm            per image
//	pi                                                  per image, position = dim
//	image_ctx_grad_norm                                 per image and context vector
//	logit, prob, eot, class_prompt_grad_norm            per image and class
//	prompt_pos_grad_norm                                per image, class and position
//	block_grad_norm                                     per image, class and layer
//	block_pos_grad_norm                                 per image, class, layer and position
//	eot_attn, eot_grad_attn                             per image, class, layer, position (head mean)
//	eot_attn_head                                       per image, class, layer, head, position
func (g *GradInspection) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	it := strconv.Itoa
	rows := [][]string{{"kind", "image", "class", "layer", "head", "position", "value"}}
	add := func(kind, image, class, layer, head, pos string, v float64) {
		rows = append(rows, []string{kind, image, class, layer, head, pos, f(v)})
	}
	add("loss", "", "", "", "", "", g.Loss)
	add("ctx_grad_norm", "", "", "", "", "", g.CtxGradNorm)
	add("prompt_grad_norm", "", "", "", "", "", g.PromptGradNorm)
	for m, v := range g.CtxVecGradNorms {
		add("ctx_vec_grad_norm", "", "", "", "", it(m), v)
	}
	for l, v := range g.BlockGradNorms {
		add("total_block_grad_norm", "", "", it(l), "", "", v)
	}
	for _, l := range g.MetaNet {
		add("meta_weight_grad_norm", "", "", l.Layer, "", "", l.WeightGradNorm)
		add("meta_bias_grad_norm", "", "", l.Layer, "", "", l.BiasGradNorm)
	}
	for i, im := range g.Images {
		img := it(i)
		add("label", img, "", "", "", "", float64(im.Label))
		add("image_loss", img, "", "", "", "", im.Loss)
		add("pi_norm", img, "", "", "", "", im.PiNorm)
		add("pi_grad_norm", img, "", "", "", "", im.PiGradNorm)
		for d, v := range im.Pi {
			add("pi", img, "", "", "", it(d), v)
		}
		for m, v := range im.CtxGradNorms {
			add("image_ctx_grad_norm", img, "", "", "", it(m), v)
		}
		for _, c := range im.Classes {
			add("logit", img, c.Name, "", "", "", c.Logit)
			add("prob", img, c.Name, "", "", "", c.Prob)
			add("eot", img, c.Name, "", "", "", float64(c.EOT))
			add("class_prompt_grad_norm", img, c.Name, "", "", "", c.PromptGradNorm)
			for j, v := range c.PromptGradNormPos {
				add("prompt_pos_grad_norm", img, c.Name, "", "", it(j), v)
			}
			for l, v := range c.BlockGradNorms {
				add("block_grad_norm", img, c.Name, it(l), "", "", v)
			}
			for l, row := range c.BlockGradNormsPos {
				for j, v := range row {
					add("block_pos_grad_norm", img, c.Name, it(l), "", it(j), v)
				}
			}
			for l, row := range c.EOTAttention {
				for j, v := range row {
					add("eot_attn", img, c.Name, it(l), "", it(j), v)
				}
			}
			for l, row := range c.EOTGradAttention {
				for j, v := range row {
					add("eot_grad_attn", img, c.Name, it(l), "", it(j), v)
				}
			}
			for l, heads := range c.EOTAttentionHeads {
				for h, row := range heads {
					for j, v := range row {
						add("eot_attn_head", img, c.Name, it(l), it(h), it(j), v)
					}
				}
			}
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("cocoop: write inspection CSV: %w", err)
	}
	return nil
}

// ParamGrad is one trainable's value and gradient norms at a step.
type ParamGrad struct {
	Name     string // official name: ctx, meta_net.linear1.weight, ...
	Norm     float64
	GradNorm float64
}

// GradStep is the gradient of the trainables at one training step, before
// the optimizer applies it.
type GradStep struct {
	Progress // where in training, the batch loss and accuracy
	Params   []ParamGrad
	// CtxVecGradNorms[m] is ‖∂loss/∂ctx_m‖ (over the classes with a
	// class-specific context).
	CtxVecGradNorms []float64
}

// GradHistory records the gradients over training (docs/cocoop.md §2):
// set Trainer.OnBackward to h.Recorder(learner).
type GradHistory struct {
	Steps []GradStep
}

// Recorder returns a Trainer.OnBackward callback that appends l's
// gradients at every step to h.
func (h *GradHistory) Recorder(l Learner) func(Progress) {
	return func(p Progress) {
		st := GradStep{Progress: p}
		for _, np := range nn.Trainable(l, "") {
			st.Params = append(st.Params, ParamGrad{Name: np.Name, Norm: norm(np.Var.Value), GradNorm: norm(np.Var.Grad)})
			if np.Name == "ctx" && np.Var.Grad != nil {
				g := host(np.Var.Grad)                            // [n_ctx, W], or [n_cls, n_ctx, W] (CSC)
				n := g.Dim(g.NDim() - 2)                          // n_ctx
				g = g.Reshape(-1, n, g.Dim(-1))                   // [classes, n_ctx, W]
				st.CtxVecGradNorms = rowNorms(g.Permute(1, 0, 2)) // [n_ctx, classes, W]
			}
		}
		h.Steps = append(h.Steps, st)
	}
}

// WriteCSV writes the history as tidy rows "step,epoch,batch,param,
// position,kind,value": loss per step (param empty), grad_norm and norm
// per parameter, ctx_vec_grad_norm per context vector (position = m).
// step is the 1-based optimizer step, epoch and batch are 0-based.
func (h *GradHistory) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	it := strconv.Itoa
	rows := [][]string{{"step", "epoch", "batch", "param", "position", "kind", "value"}}
	for _, s := range h.Steps {
		at := []string{it(s.GlobalStep), it(s.Epoch), it(s.Step)}
		row := func(param, pos, kind string, v float64) {
			rows = append(rows, append(append([]string{}, at...), param, pos, kind, f(v)))
		}
		row("", "", "loss", s.Loss)
		for _, p := range s.Params {
			row(p.Name, "", "grad_norm", p.GradNorm)
			row(p.Name, "", "norm", p.Norm)
		}
		for m, v := range s.CtxVecGradNorms {
			row("ctx", it(m), "ctx_vec_grad_norm", v)
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("cocoop: write gradient history CSV: %w", err)
	}
	return nil
}
