package cocoop

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// LayerGrad is the gradient norm of one meta-net layer's parameters.
type LayerGrad struct {
	Layer          string // "linear1", "linear2"
	WeightGradNorm float64
	BiasGradNorm   float64
}

// ClassInspection is the gradient flow and attention of one class prompt.
type ClassInspection struct {
	Name   string
	Prompt string // prompt text before the context is learned ("a photo of a {name}.")
	EOT    int    // EOT position
	Logit  float64
	Prob   float64

	// PromptGradNorm is ‖d loss/d prompt embeddings‖ of this class's
	// prompt; PromptGradNormPos the norm at each position 0..EOT (0 = SOS,
	// 1..n_ctx = context, then name tokens, ".", EOS).
	PromptGradNorm    float64
	PromptGradNormPos []float64
	// BlockGradNorms[l] is ‖d loss/d output of text block l‖ over this
	// class's positions.
	BlockGradNorms []float64
	// EOTAttention[l][j] is the attention of the EOT query to key position
	// j ≤ EOT in layer l, averaged over heads; EOTAttentionHeads[l][h][j]
	// per head.
	EOTAttention      [][]float64
	EOTAttentionHeads [][][]float64
}

// GradInspection is one CoCoOp forward/backward on a single image, seen
// from inside (docs/cocoop.md §1.4): what reaches ctx and the meta-net, and through
// which layers.
type GradInspection struct {
	Label  int
	Loss   float64
	NCtx   int
	Layers int
	Heads  int

	Pi     []float64 // π(x̂) [W], added to every context vector
	PiNorm float64

	CtxGradNorm    float64 // ‖d loss/d ctx‖
	PromptGradNorm float64 // ‖d loss/d prompt embeddings‖, all classes
	MetaNet        []LayerGrad

	Classes []ClassInspection
}

// InspectGradients runs CoCoOp's forward and backward for one image
// ([3, R, R] or [1, 3, R, R]) with label, over classNames (nil: c's
// current classes; c's own list is left unchanged), with one graph over all
// classes and the model's Trace recording every text block's output and
// attention. It leaves c's parameter gradients cleared.
//
// Inspection always takes the plain text path (the prompts assembled in
// full, clip.EncodeTextEmbeddings), whatever the model's FullPrompts says: its
// per-class, per-position block outputs and attention maps are then the
// trace's own [n_cls, L, W] tensors, and for one image the shortcut would
// save little.
func InspectGradients(c *CoCoOp, image *tensor.Tensor, label int, classNames []string) (ins *GradInspection, err error) {
	cp := c.classes
	if classNames != nil {
		if cp, err = newClassPrompts(c.Model, c.Prompt.PromptPrefix, c.Prompt.NCtx, classNames); err != nil {
			return nil, err
		}
	}
	if label < 0 || label >= cp.n() {
		return nil, fmt.Errorf("cocoop: inspect: label %d outside [0, %d)", label, cp.n())
	}
	if image.NDim() == 3 {
		image = image.Unsqueeze(0)
	}
	if image.Dim(0) != 1 {
		return nil, fmt.Errorf("cocoop: inspect: one image expected, got shape %v", image.Shape())
	}
	m := c.Model
	saved := m.Trace
	defer func() { m.Trace = saved }()
	clearGrads(c)
	defer clearGrads(c)
	err = catch(func() { ins = c.inspect(cp, image, label) })
	return ins, err
}

func clearGrads(c *CoCoOp) {
	for _, p := range c.NamedParameters("") {
		p.Var.ZeroGrad()
	}
}

func (c *CoCoOp) inspect(cp *classPrompts, image *tensor.Tensor, label int) *GradInspection {
	m := c.Model
	feats := c.ImageFeatures(image)                   // [1, E]
	pi := c.Prompt.Pi(autograd.Constant(feats), true) // [1, W]
	sh := autograd.Add(autograd.Unsqueeze(c.Prompt.Ctx, 0), autograd.Unsqueeze(pi, 1))
	s := autograd.Squeeze(sh, 0) // [n_ctx, W]
	all := cp.chunks(0)[0]
	prompts := c.builder(cp, s)(all, true).RetainGrad() // [n_cls, L, W]
	m.Trace = &clip.Trace{RecordAttn: true}
	t := m.EncodeTextEmbeddings(prompts, cp.chunkIDs(all))
	tr := m.Trace.Text
	for _, b := range tr.Blocks {
		b.RetainGrad()
	}
	logits := logitsOf(autograd.Constant(feats), t, logitScale(m)) // [1, n_cls]
	loss := autograd.CrossEntropy(logits, []int{label})
	loss.Backward()

	ins := &GradInspection{
		Label: label, Loss: float64(loss.Value.Item()), NCtx: c.Prompt.NCtx, Layers: len(tr.Blocks),
		CtxGradNorm:    norm(c.Prompt.Ctx.Grad),
		PromptGradNorm: norm(prompts.Grad),
	}
	if len(tr.Attn) > 0 {
		ins.Heads = tr.Attn[0].Dim(1)
	}
	for _, v := range pi.Value.ToSlice() {
		ins.Pi = append(ins.Pi, float64(v))
	}
	ins.PiNorm = norm(pi.Value)
	for _, l := range []struct {
		name string
		w, b *autograd.Var
	}{{"linear1", c.Prompt.Linear1.Weight, c.Prompt.Linear1.Bias}, {"linear2", c.Prompt.Linear2.Weight, c.Prompt.Linear2.Bias}} {
		ins.MetaNet = append(ins.MetaNet, LayerGrad{Layer: l.name, WeightGradNorm: norm(l.w.Grad), BiasGradNorm: norm(l.b.Grad)})
	}
	probs := tensor.Softmax(logits.Value, 1).ToSlice()
	lv := logits.Value.ToSlice()
	for ci, name := range cp.names {
		e := cp.eot[ci]
		cl := ClassInspection{
			Name: name, Prompt: cp.texts[ci], EOT: e, Logit: float64(lv[ci]), Prob: float64(probs[ci]),
			PromptGradNorm: norm(prompts.Grad.Index(0, ci)),
		}
		for j := 0; j <= e; j++ {
			cl.PromptGradNormPos = append(cl.PromptGradNormPos, norm(prompts.Grad.Index(0, ci).Index(0, j)))
		}
		for l, b := range tr.Blocks {
			cl.BlockGradNorms = append(cl.BlockGradNorms, norm(b.Grad.Index(0, ci)))
			if l >= len(tr.Attn) {
				continue
			}
			a := tr.Attn[l].Index(0, ci) // [H, L, L]
			heads := make([][]float64, a.Dim(0))
			mean := make([]float64, e+1)
			for h := range heads {
				row := a.Index(0, h).Index(0, e).ToSlice() // query = EOT
				heads[h] = make([]float64, e+1)
				for j := 0; j <= e; j++ {
					heads[h][j] = float64(row[j])
					mean[j] += float64(row[j]) / float64(len(heads))
				}
			}
			cl.EOTAttention = append(cl.EOTAttention, mean)
			cl.EOTAttentionHeads = append(cl.EOTAttentionHeads, heads)
		}
		ins.Classes = append(ins.Classes, cl)
	}
	return ins
}

// norm is the Euclidean norm of t (0 for nil), accumulated in float64.
func norm(t *tensor.Tensor) float64 {
	if t == nil {
		return 0
	}
	s := 0.0
	for _, v := range t.ToSlice() {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// WriteCSV writes the inspection as tidy rows "kind,class,layer,head,
// position,value" (empty fields where they do not apply):
//
//	loss, ctx_grad_norm, prompt_grad_norm, pi_norm      one row each
//	pi                                                   position = dim
//	meta_weight_grad_norm, meta_bias_grad_norm           layer = linear1/linear2
//	logit, prob, eot, class_prompt_grad_norm             per class
//	prompt_pos_grad_norm                                 per class and position
//	block_grad_norm                                      per class and layer
//	eot_attn                                             per class, layer, position (head mean)
//	eot_attn_head                                        per class, layer, head, position
func (g *GradInspection) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	it := strconv.Itoa
	rows := [][]string{{"kind", "class", "layer", "head", "position", "value"}}
	add := func(kind, class, layer, head, pos string, v float64) {
		rows = append(rows, []string{kind, class, layer, head, pos, f(v)})
	}
	add("loss", "", "", "", "", g.Loss)
	add("ctx_grad_norm", "", "", "", "", g.CtxGradNorm)
	add("prompt_grad_norm", "", "", "", "", g.PromptGradNorm)
	add("pi_norm", "", "", "", "", g.PiNorm)
	for i, v := range g.Pi {
		add("pi", "", "", "", it(i), v)
	}
	for _, l := range g.MetaNet {
		add("meta_weight_grad_norm", "", l.Layer, "", "", l.WeightGradNorm)
		add("meta_bias_grad_norm", "", l.Layer, "", "", l.BiasGradNorm)
	}
	for _, c := range g.Classes {
		add("logit", c.Name, "", "", "", c.Logit)
		add("prob", c.Name, "", "", "", c.Prob)
		add("eot", c.Name, "", "", "", float64(c.EOT))
		add("class_prompt_grad_norm", c.Name, "", "", "", c.PromptGradNorm)
		for j, v := range c.PromptGradNormPos {
			add("prompt_pos_grad_norm", c.Name, "", "", it(j), v)
		}
		for l, v := range c.BlockGradNorms {
			add("block_grad_norm", c.Name, it(l), "", "", v)
		}
		for l, row := range c.EOTAttention {
			for j, v := range row {
				add("eot_attn", c.Name, it(l), "", it(j), v)
			}
		}
		for l, heads := range c.EOTAttentionHeads {
			for h, row := range heads {
				for j, v := range row {
					add("eot_attn_head", c.Name, it(l), it(h), it(j), v)
				}
			}
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("cocoop: write inspection CSV: %w", err)
	}
	return nil
}
