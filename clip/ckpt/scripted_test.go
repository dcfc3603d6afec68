package ckpt

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// Fixtures written by make_checkpoints.py's write_extra.
const (
	tinyScripted = "testdata/tiny_scripted.pt"
	tinyHFBin    = "testdata/tiny_hf_f16.bin"
)

// TestLoadScripted: a torch.jit.script archive stores clip/model.py's
// attn_mask (a plain tensor attribute of each ResidualAttentionBlock) in
// data.pkl next to the parameters. state_dict() leaves it out, so the loader
// must too: it reads the class's __parameters__/__buffers__ from code/.
// Before the fix the walk returned transformer.resblocks.<i>.attn_mask and
// clip.Load failed with `unexpected key`.
func TestLoadScripted(t *testing.T) {
	want := mustLoad(t, tinyExpected)
	got, format, err := Load(tinyScripted)
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatTorchScript {
		t.Errorf("format %v, want %v", format, FormatTorchScript)
	}
	compareStateDicts(t, got, want, true)

	// The fixture does hold the attribute: without code/ the walk keeps
	// every tensor (the fallback for archives whose code cannot be read).
	data := rewriteZip(t, tinyScripted, func(n string, d []byte) []byte {
		if strings.Contains(n, "/code/") {
			return nil
		}
		return d
	})
	sd, _, err := Load(writeTemp(t, "nocode.pt", data))
	if err != nil {
		t.Fatal(err)
	}
	if sd.Get("transformer.resblocks.0.attn_mask") == nil {
		t.Errorf("fixture has no attn_mask attribute; keys %v", sd.Keys())
	}

	// The traced archive keeps its exact keys and order through the filter.
	compareStateDicts(t, mustLoad(t, tinyScript), want, true)
}

// TestLoadHFTorchZip: a Hugging Face pytorch_model.bin (torch.save zip with
// CLIPModel names) is mapped like HF safetensors. Before the fix the names
// went through unmapped and clip.Load failed with `missing key
// "ln_final.weight"`.
func TestLoadHFTorchZip(t *testing.T) {
	want := mustLoad(t, tinyExpected)
	got, format, err := Load(tinyHFBin)
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatTorchZip {
		t.Errorf("format %v, want %v", format, FormatTorchZip)
	}
	gk, wk := got.Keys(), want.Keys()
	slices.Sort(gk)
	slices.Sort(wk)
	if !slices.Equal(gk, wk) {
		t.Fatalf("key sets differ:\n got %v\nwant %v", gk, wk)
	}
	for _, k := range wk {
		g, w := got.Get(k), want.Get(k)
		if !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("%s: shape %v, want %v", k, g.Shape, w.Shape)
			continue
		}
		for i, v := range w.Data { // stored as F16: round-off only
			if d := math.Abs(float64(g.Data[i] - v)); d > math.Abs(float64(v))/2048+1e-7 {
				t.Errorf("%s[%d] = %v, want %v (F16 of it)", k, i, g.Data[i], v)
				break
			}
		}
	}
}

func TestParseClassMembers(t *testing.T) {
	code := `class ResidualAttentionBlock(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  attn_mask : Tensor
  def forward(self: __torch__.X,
    x: Tensor) -> Tensor:
    return x
class CLIP(Module):
  __parameters__ = ["positional_embedding", "logit_scale", ]
  __buffers__ = ["input_resolution", ]
  positional_embedding : Tensor

class Old(Module):
  __parameters__ = ["weight", ]
  weight : Tensor
`
	for _, tc := range []struct {
		class string
		want  []string // nil: unknown
	}{
		{"ResidualAttentionBlock", []string{}},
		{"CLIP", []string{"input_resolution", "logit_scale", "positional_embedding"}},
		{"Old", nil}, // no __buffers__ list: fall back to every tensor
		{"Missing", nil},
		{"CLI", nil}, // a prefix of a class name is not that class
	} {
		m := parseClassMembers(code, tc.class)
		if (m == nil) != (tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.class, m, tc.want)
			continue
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.class, got, tc.want)
		}
	}
}

// TestFinishPrefixes: shared leading components are stripped when what
// remains are CLIP names (a traced wrapper module gives "model.*"), and
// never when the keys already are CLIP names.
func TestFinishPrefixes(t *testing.T) {
	for _, tc := range []struct {
		keys, want []string
	}{
		{[]string{"model.visual.proj", "model.logit_scale", "model.input_resolution"}, []string{"visual.proj", "logit_scale"}},
		{[]string{"module.model.text_projection", "module.model.ln_final.weight"}, []string{"text_projection", "ln_final.weight"}},
		{[]string{"module.a", "module.b"}, []string{"a", "b"}}, // DataParallel: always
		{[]string{"wrap.text_model.x", "wrap.vision_model.y"}, []string{"text_model.x", "vision_model.y"}},
		{[]string{"visual.proj", "visual.transformer.resblocks.0.ln_1.weight"}, []string{"visual.proj", "visual.transformer.resblocks.0.ln_1.weight"}},
		{[]string{"head.weight", "head.bias"}, []string{"head.weight", "head.bias"}},
		{[]string{"model.visual.proj", "other.logit_scale"}, []string{"model.visual.proj", "other.logit_scale"}},
	} {
		sd := NewStateDict()
		for _, k := range tc.keys {
			sd.Set(k, &Tensor{Data: []float32{0}})
		}
		finish(sd)
		if !slices.Equal(sd.Keys(), tc.want) {
			t.Errorf("%v: keys %v, want %v", tc.keys, sd.Keys(), tc.want)
		}
		for _, k := range tc.want {
			if sd.Get(k) == nil {
				t.Errorf("%v: Get(%q) nil", tc.keys, k)
			}
		}
	}
}
