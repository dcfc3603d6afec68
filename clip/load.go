package clip

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// readStateDict reads a checkpoint of any format (ckpt.Load) into tensors by
// name: float32, except with keepHalf the weight matrices (HalfWeight) the
// file stores in float16, which stay float16.
func readStateDict(path string, keepHalf bool) (map[string]*tensor.Tensor, error) {
	st, _, err := ckpt.LoadWith(path, ckpt.LoadOptions{KeepHalf: keepHalf})
	if err != nil {
		return nil, err
	}
	sd := make(map[string]*tensor.Tensor, st.Len())
	for _, k := range st.Keys() {
		t := st.Get(k)
		if n := max(len(t.Data), len(t.Half)); t.Numel() != n {
			return nil, fmt.Errorf("clip: %s: key %q: shape %v but %d values", path, k, t.Shape, n)
		}
		if t.Half != nil {
			// Stored in float16: weight matrices stay so, the rest widens.
			h := tensor.FromHalf(t.Half, t.Shape...)
			if !HalfWeight(k, t.Shape) {
				h = h.Float()
			}
			sd[k] = h
			continue
		}
		sd[k] = tensor.FromSlice(t.Data, t.Shape...)
	}
	return sd, nil
}

// buffers are the int64 scalars of the released archives that build_model
// deletes; they are ignored when present.
var buffers = []string{"input_resolution", "context_length", "vocab_size"}

// KeyError reports a state-dict entry that does not fit the model:
// missing, unexpected, or of the wrong shape.
type KeyError struct {
	Key       string
	Want, Got []int // expected and actual shape (Got nil when missing, Want nil when unexpected)
	Missing   bool
	Extra     bool
}

func (e *KeyError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("clip: state dict: missing key %q (expected shape %v)", e.Key, e.Want)
	case e.Extra:
		return fmt.Sprintf("clip: state dict: unexpected key %q (shape %v)", e.Key, e.Got)
	}
	return fmt.Sprintf("clip: state dict: key %q has shape %v, expected %v", e.Key, e.Got, e.Want)
}

// ConfigFromStateDict infers the hyper-parameters from the keys and shapes
// of a CLIP ViT state dict as model.py's build_model does:
//
//	vision width   = visual.conv1.weight.shape[0]; patch = its shape[-1]
//	vision layers  = resblocks under visual.transformer; heads = width/64
//	resolution     = patch · round(√(visual.positional_embedding.shape[0] − 1))
//	embed dim      = text_projection.shape[1]
//	context        = positional_embedding.shape[0]
//	vocab          = token_embedding.weight.shape[0]
//	text width     = ln_final.weight.shape[0]; heads = width/64
//	text layers    = resblocks under transformer
//
// Errors name the key that is missing or mis-shaped.
func ConfigFromStateDict(sd map[string]*tensor.Tensor) (Config, error) {
	cfg, err := configFromShapes(sd)
	if err != nil {
		return cfg, err
	}
	cfg.VisionHeads, cfg.TransformerHeads = cfg.VisionWidth/64, cfg.TransformerWidth/64
	if cfg.VisionHeads == 0 || cfg.TransformerHeads == 0 {
		return cfg, fmt.Errorf("clip: state dict: widths %d (visual.conv1.weight) and %d (ln_final.weight) must be at least 64 (heads = width/64)",
			cfg.VisionWidth, cfg.TransformerWidth)
	}
	return cfg, cfg.validate()
}

// configFromShapes reads every field but the head counts off the shapes.
func configFromShapes(sd map[string]*tensor.Tensor) (Config, error) {
	var cfg Config
	if _, ok := sd["visual.proj"]; !ok {
		if _, resnet := sd["visual.layer1.0.conv1.weight"]; resnet {
			return cfg, errors.New("clip: state dict: ModifiedResNet image towers are not supported (no visual.proj)")
		}
	}
	var errs []error
	reported := map[string]bool{} // a key read twice is reported once
	dim := func(key string, rank, axis int) int {
		t, ok := sd[key]
		if !ok {
			if !reported[key] {
				errs = append(errs, fmt.Errorf("clip: state dict: missing key %q (needed to infer the configuration)", key))
			}
			reported[key] = true
			return 0
		}
		if s := t.Shape(); len(s) != rank {
			if !reported[key] {
				errs = append(errs, fmt.Errorf("clip: state dict: key %q has shape %v, expected rank %d", key, s, rank))
			}
			reported[key] = true
			return 0
		}
		return t.Dim(axis)
	}
	cfg.VisionWidth = dim("visual.conv1.weight", 4, 0)
	cfg.VisionPatchSize = dim("visual.conv1.weight", 4, 3)
	cfg.VisionLayers = countBlocks(sd, "visual.transformer.resblocks.")
	grid := int(math.Round(math.Sqrt(float64(dim("visual.positional_embedding", 2, 0) - 1))))
	cfg.ImageResolution = cfg.VisionPatchSize * grid
	cfg.EmbedDim = dim("text_projection", 2, 1)
	cfg.ContextLength = dim("positional_embedding", 2, 0)
	cfg.VocabSize = dim("token_embedding.weight", 2, 0)
	cfg.TransformerWidth = dim("ln_final.weight", 1, 0)
	cfg.TransformerLayers = countBlocks(sd, "transformer.resblocks.")
	return cfg, errors.Join(errs...)
}

// countBlocks is 1 + the largest block index i of keys prefix + "i.…"
// (so a gap shows up as missing keys, not as a silently shorter model).
func countBlocks(sd map[string]*tensor.Tensor, prefix string) int {
	n := 0
	for k := range sd {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			idx, _, _ := strings.Cut(rest, ".")
			if i, err := strconv.Atoi(idx); err == nil && i+1 > n {
				n = i + 1
			}
		}
	}
	return n
}

// FromStateDict builds CLIP from a state dict with OpenAI names
// (docs/clip.md §2.1), inferring the configuration (ConfigFromStateDict).
// Like load_state_dict(strict=True) it requires every key with its exact
// shape and rejects unknown keys (the buffers input_resolution,
// context_length and vocab_size are ignored); all problems are reported
// together as *KeyError values naming the key and both shapes. logit_scale
// may be [] or [1].
//
// The model takes the tensors as its frozen weights without copying them.
func FromStateDict(sd map[string]*tensor.Tensor) (*CLIP, error) {
	return fromStateDict(sd, nil)
}

// fromStateDict is FromStateDict with the configuration's head counts taken
// from stated (the checkpoint's own record) when it is not nil; every other
// field of stated must match what the shapes say.
func fromStateDict(sd map[string]*tensor.Tensor, stated *Config) (*CLIP, error) {
	var cfg Config
	var err error
	if stated == nil {
		cfg, err = ConfigFromStateDict(sd)
	} else {
		cfg, err = configFromShapes(sd)
		if err == nil {
			cfg.VisionHeads, cfg.TransformerHeads = stated.VisionHeads, stated.TransformerHeads
			if cfg != *stated {
				err = fmt.Errorf("clip: state dict: the configuration in the metadata, %+v, does not match the tensors' shapes, %+v", *stated, cfg)
			} else {
				err = cfg.validate()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	used := map[string]bool{}
	p := func(name string, _ nn.Init, shape ...int) *autograd.Var {
		used[name] = true
		t, ok := sd[name]
		switch {
		case !ok:
			errs = append(errs, &KeyError{Key: name, Want: shape, Missing: true})
			return nil
		case name == "logit_scale" && t.Numel() == 1:
			t = t.Contiguous().Reshape()
		case !slices.Equal(t.Shape(), shape):
			errs = append(errs, &KeyError{Key: name, Want: shape, Got: t.Shape()})
			return nil
		}
		return autograd.NewVar(t.Contiguous(), false)
	}
	m := newCLIP(cfg, p)
	var extra []string
	for k := range sd {
		if !used[k] && !slices.Contains(buffers, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		errs = append(errs, &KeyError{Key: k, Got: sd[k].Shape(), Extra: true})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Load reads a CLIP ViT checkpoint — OpenAI's release .pt (TorchScript),
// a torch.save state dict, or safetensors with OpenAI or Hugging Face names
// (package ckpt) — and builds the model in float32 with frozen weights, as
// clip.load(path, device="cpu") does.
//
// The head counts cannot be read off the shapes; they are width/64 as in
// build_model, unless the file is safetensors whose metadata holds the
// configuration as JSON under "config" (as SaveSafetensors writes it): then
// its heads are used, so models of any
// width load, and the rest of it must agree with the shapes.
func Load(path string) (*CLIP, error) { return load(path, false) }

// LoadHalfWeights is Load keeping the weight matrices (HalfWeight) that
// the file stores in float16 — the OpenAI release stores all of them so —
// in float16, straight from the file: ConvertWeights without the float32
// copy, so neither the model nor the load ever holds them in float32. The
// model computes the same bits as Load's (the widening is exact); it is for
// frozen models (CoOp, CoCoOp, zero-shot). Matrices a file stores in
// float32 stay float32.
func LoadHalfWeights(path string) (*CLIP, error) { return load(path, true) }

func load(path string, keepHalf bool) (*CLIP, error) {
	sd, err := readStateDict(path, keepHalf)
	if err != nil {
		return nil, err
	}
	var heads *Config
	if meta, err := ckpt.ReadMetadata(path); err == nil && meta["config"] != "" {
		var c Config
		if err := json.Unmarshal([]byte(meta["config"]), &c); err != nil {
			return nil, fmt.Errorf("clip: %s: metadata \"config\": %w", path, err)
		}
		heads = &c
	}
	m, err := fromStateDict(sd, heads)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err) // the errors say "clip: state dict: …"
	}
	return m, nil
}
