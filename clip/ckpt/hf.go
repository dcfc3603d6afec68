package ckpt

import (
	"fmt"
	"strings"
)

// Hugging Face CLIPModel → OpenAI name mapping (docs/clip.md §2.3).

// hfFixed are whole-name renames; "" drops the key.
var hfFixed = map[string]string{
	"logit_scale": "logit_scale",
	"text_model.embeddings.token_embedding.weight":      "token_embedding.weight",
	"text_model.embeddings.position_embedding.weight":   "positional_embedding",
	"text_model.embeddings.position_ids":                "",
	"vision_model.embeddings.class_embedding":           "visual.class_embedding",
	"vision_model.embeddings.patch_embedding.weight":    "visual.conv1.weight",
	"vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
	"vision_model.embeddings.position_ids":              "",
}

// hfTransposed are the projections stored [out,in] by HF and [in,out] by OpenAI.
var hfTransposed = map[string]string{
	"visual_projection.weight": "visual.proj",
	"text_projection.weight":   "text_projection",
}

// hfPrefixes rename the leading part of a name.
var hfPrefixes = []struct{ hf, openai string }{
	{"text_model.final_layer_norm.", "ln_final."},
	{"text_model.encoder.layers.", "transformer.resblocks."},
	{"vision_model.pre_layrnorm.", "visual.ln_pre."},
	{"vision_model.post_layernorm.", "visual.ln_post."},
	{"vision_model.encoder.layers.", "visual.transformer.resblocks."},
}

// hfLayer renames the part of a layer key after "layers.<i>.".
var hfLayer = []struct{ hf, openai string }{
	{"self_attn.out_proj.", "attn.out_proj."},
	{"layer_norm1.", "ln_1."},
	{"layer_norm2.", "ln_2."},
	{"mlp.fc1.", "mlp.c_fc."},
	{"mlp.fc2.", "mlp.c_proj."},
}

// hfQKV recognises "<layer>.self_attn.{q,k,v}_proj.{weight,bias}" and
// returns the OpenAI in_proj key and the part index 0, 1, 2.
func hfQKV(name string) (string, int, bool) {
	for part, p := range []string{"q_proj.", "k_proj.", "v_proj."} {
		i := strings.Index(name, ".self_attn."+p)
		if i < 0 {
			continue
		}
		layer, suffix := name[:i], name[i+len(".self_attn.")+len(p):]
		if suffix != "weight" && suffix != "bias" {
			return "", 0, false
		}
		mapped, ok := hfRename(layer + ".")
		if !ok {
			return "", 0, false
		}
		return mapped + "attn.in_proj_" + suffix, part, true
	}
	return "", 0, false
}

// hfRename maps a non-attention-input name; ok is false for unknown names.
func hfRename(name string) (string, bool) {
	for _, p := range hfPrefixes {
		rest, ok := strings.CutPrefix(name, p.hf)
		if !ok {
			continue
		}
		if !strings.HasSuffix(p.hf, "layers.") {
			return p.openai + rest, true
		}
		// rest = "<i>.<layer part>"
		i, tail, ok := strings.Cut(rest, ".")
		if !ok {
			return "", false
		}
		if tail == "" {
			return p.openai + i + ".", true
		}
		for _, l := range hfLayer {
			if t, ok := strings.CutPrefix(tail, l.hf); ok {
				return p.openai + i + "." + l.openai + t, true
			}
		}
		return "", false
	}
	return "", false
}

// fromHF maps a Hugging Face CLIPModel state dict to OpenAI names: q/k/v
// projections are concatenated along dim 0 into in_proj_{weight,bias}, the
// two projections are transposed, position_ids are dropped. Unknown names
// are kept unchanged. Each mapped key takes the position of its first
// source key.
func fromHF(raw *StateDict) (*StateDict, error) {
	out := NewStateDict()
	type qkv struct{ parts [3]*Tensor }
	pending := make(map[string]*qkv)
	for _, k := range raw.keys {
		t := raw.m[k]
		if mapped, ok := hfFixed[k]; ok {
			if mapped != "" {
				if err := setNew(out, mapped, k, t); err != nil {
					return nil, err
				}
			}
			continue
		}
		if mapped, ok := hfTransposed[k]; ok {
			tt, err := transpose2D(t)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", k, err)
			}
			if err := setNew(out, mapped, k, tt); err != nil {
				return nil, err
			}
			continue
		}
		if mapped, part, ok := hfQKV(k); ok {
			p := pending[mapped]
			if p == nil {
				p = &qkv{}
				pending[mapped] = p
				if err := setNew(out, mapped, k, nil); err != nil { // reserve the position
					return nil, err
				}
			}
			if p.parts[part] != nil {
				return nil, fmt.Errorf("%w: tensor %q given twice", ErrCorrupt, k)
			}
			p.parts[part] = t
			continue
		}
		mapped, ok := hfRename(k)
		if !ok {
			mapped = k
		}
		if err := setNew(out, mapped, k, t); err != nil {
			return nil, err
		}
	}
	for _, name := range out.keys { // in order, for deterministic errors
		p := pending[name]
		if p == nil {
			continue
		}
		t, err := concat0(p.parts)
		if err != nil {
			return nil, fmt.Errorf("%w: %s from q_proj/k_proj/v_proj: %v", ErrCorrupt, name, err)
		}
		out.m[name] = t
	}
	return out, nil
}

// setNew stores t under name, failing if two source keys map to one name.
func setNew(sd *StateDict, name, from string, t *Tensor) error {
	if _, dup := sd.m[name]; dup {
		return fmt.Errorf("%w: tensor %q maps to %q, which is already set", ErrCorrupt, from, name)
	}
	sd.Set(name, t)
	return nil
}

// transpose2D returns the transpose of a 2-D tensor.
func transpose2D(t *Tensor) (*Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("%w: want a 2-D projection, shape is %v", ErrCorrupt, t.Shape)
	}
	r, c := t.Shape[0], t.Shape[1]
	out := &Tensor{Shape: []int{c, r}, Data: make([]float32, len(t.Data))}
	for i := range r {
		row := t.Data[i*c : (i+1)*c]
		for j, v := range row {
			out.Data[j*r+i] = v
		}
	}
	return out, nil
}

// concat0 concatenates three tensors of equal shape along dimension 0.
func concat0(parts [3]*Tensor) (*Tensor, error) {
	for i, p := range parts {
		if p == nil {
			return nil, fmt.Errorf("%s_proj missing", "qkv"[i:i+1])
		}
	}
	s := parts[0].Shape
	if len(s) == 0 {
		return nil, fmt.Errorf("q_proj is a scalar")
	}
	for i, p := range parts[1:] {
		if !equalInts(p.Shape, s) {
			return nil, fmt.Errorf("%s_proj shape %v differs from q_proj %v", "kv"[i:i+1], p.Shape, s)
		}
	}
	shape := append([]int{3 * s[0]}, s[1:]...)
	data := make([]float32, 0, 3*len(parts[0].Data))
	for _, p := range parts {
		data = append(data, p.Data...)
	}
	return &Tensor{Shape: shape, Data: data}, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
