package cocoop

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// ZeroShot is zero-shot CLIP with hand-written templates
// (trainers/zsclip.py, docs/cocoop.md §5.2). With one template it is ZeroshotCLIP:
// t_c = normalize(encode_text(template.format(name_c))). With several it is
// ZeroshotCLIP2's prompt ensemble: the mean of the per-template normalized
// features, renormalized.
type ZeroShot struct {
	Model     *clip.CLIP
	Templates []string // each with one "{}"
	ChunkSize int      // prompts per text-encoder call (0: all at once)

	names []string
	text  *tensor.Tensor // normalized class features [n_cls, E]
}

// NewZeroShot builds the classifier for classNames with templates.
func NewZeroShot(m *clip.CLIP, templates []string, classNames []string) (*ZeroShot, error) {
	if len(templates) == 0 {
		return nil, errors.New("cocoop: zero-shot: no templates")
	}
	for _, t := range templates {
		if strings.Count(t, "{}") != 1 {
			return nil, fmt.Errorf("cocoop: zero-shot: template %q must hold one {}", t)
		}
	}
	z := &ZeroShot{Model: m, Templates: slices.Clone(templates), ChunkSize: DefaultChunkSize}
	if err := z.SetClassNames(classNames); err != nil {
		return nil, err
	}
	return z, nil
}

// NewZeroShotForDataset uses the dataset's template (data.Template), or
// with ensemble the ZeroshotCLIP2 list (data.EnsembleTemplates).
func NewZeroShotForDataset(m *clip.CLIP, dataset string, ensemble bool, classNames []string) (*ZeroShot, error) {
	tpl := []string{data.Template(dataset)}
	if ensemble {
		tpl = data.EnsembleTemplates(dataset)
	}
	return NewZeroShot(m, tpl, classNames)
}

// Method implements Classifier.
func (z *ZeroShot) Method() string { return MethodZeroShot }

// ClassNames implements Classifier.
func (z *ZeroShot) ClassNames() []string { return slices.Clone(z.names) }

// TextFeatures returns the normalized class features [n_cls, E] (shared,
// read-only; on the model's device).
func (z *ZeroShot) TextFeatures() *tensor.Tensor { return z.text }

// SetClassNames implements Classifier: it encodes every template for every
// class once.
func (z *ZeroShot) SetClassNames(names []string) error {
	if len(names) == 0 {
		return errors.New("cocoop: empty class list")
	}
	n := len(names)
	var sum *tensor.Tensor
	for _, tpl := range z.Templates {
		texts := make([]string, n)
		for c, name := range names {
			texts[c] = strings.ReplaceAll(tpl, "{}", PromptName(name))
		}
		ids, err := clip.Tokenize(texts, z.Model.ContextLength, false)
		if err != nil {
			return fmt.Errorf("cocoop: zero-shot template %q: %w", tpl, err)
		}
		f, err := z.encode(ids) // [n, E] normalized
		if err != nil {
			return fmt.Errorf("cocoop: zero-shot template %q: %w", tpl, err)
		}
		if len(z.Templates) == 1 {
			z.names, z.text = slices.Clone(names), f
			return nil
		}
		if sum == nil {
			sum = tensor.ZerosOn(f.Device(), f.Shape()...)
		}
		sum = tensor.Add(sum, f)
	}
	sum = tensor.MulScalar(sum, 1/float32(len(z.Templates)))
	z.names, z.text = slices.Clone(names), normalizeRows(autograd.Constant(sum)).Value
	return nil
}

// commonPrefix is the number of leading ids equal in all rows, at most the
// first EOT position (the shared prefix of EncodeTextEmbeddingsShared,
// which must end before every EOT).
func commonPrefix(rows [][]int32, eot []int) int {
	p := slices.Min(eot)
	for _, r := range rows[1:] {
		for j := range p {
			if r[j] != rows[0][j] {
				p = j
				break
			}
		}
	}
	return p
}

// encode returns the normalized features of token rows, in chunks of
// ChunkSize cut after their last EOT, through the model's shared-prefix
// entry point: with the shortcut (the default) each prompt is computed up
// to its own EOT and the leading tokens common to a chunk's prompts (SOS
// and the template's words before the class name) once for all of them;
// with clip.TextTransformer.FullPrompts (or on a device) every prompt at 77
// tokens. The features stay on the model's device.
func (z *ZeroShot) encode(ids [][]int32) (*tensor.Tensor, error) {
	n := len(ids)
	var parts []*tensor.Tensor
	size := z.ChunkSize
	if size <= 0 || size > n {
		size = n
	}
	eot := clip.EOTPositions(ids)
	err := catch(func() {
		for lo := 0; lo < n; lo += size {
			hi := min(n, lo+size)
			l := slices.Max(eot[lo:hi]) + 1
			rows := make([][]int32, hi-lo)
			for i := range rows {
				rows[i] = ids[lo+i][:l]
			}
			emb := z.Model.TokenEmbedding(rows) // [hi-lo, l, W]
			parts = append(parts, normalizeRows(z.Model.EncodeTextEmbeddingsShared(emb, rows, commonPrefix(rows, eot[lo:hi]))).Value)
		}
	})
	if err != nil {
		return nil, err
	}
	return tensor.Concat(parts, 0), nil
}

// ImageFeatures implements Classifier.
func (z *ZeroShot) ImageFeatures(images *tensor.Tensor) *tensor.Tensor {
	return imageFeatures(z.Model, images)
}

// LogitsFromFeatures implements Classifier: exp(logit_scale) · x̂ · tᵀ
// (feats and the logits on the host).
func (z *ZeroShot) LogitsFromFeatures(feats *tensor.Tensor) *tensor.Tensor {
	x := toDev(feats, z.text.Device())
	return host(tensor.MulScalar(tensor.MatMulT(x, z.text, false, true), logitScale(z.Model)))
}

// Logits implements Classifier.
func (z *ZeroShot) Logits(images *tensor.Tensor) *tensor.Tensor {
	return z.LogitsFromFeatures(z.ImageFeatures(images))
}
