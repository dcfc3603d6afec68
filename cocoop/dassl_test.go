package cocoop

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/tensor"
)

// The fixtures of bench/reference/make_dassl_fixtures.py: prompt learners
// saved in the official code's layout, every tensor the hash formula
// (scale 0.5) under "dassl/<fixture>/<tag>/<key>".
const dasslDir = "testdata/dassl"

// roundHalf rounds x to the nearest float16 value (ties to even), as
// torch's .half() does for values in float16's range.
func roundHalf(x float32) float32 {
	if x == 0 {
		return x
	}
	_, e := math.Frexp(float64(x)) // |x| = f·2^e, f in [0.5, 1)
	q := math.Ldexp(1, max(e-1, -14)-10)
	return float32(math.RoundToEven(float64(x)/q) * q)
}

func dasslExpected(tag, key string, shape []int, half bool) []float32 {
	v := clip.HashTensor(tag+"/"+key, 0.5, 0, shape...).ToSlice()
	if half {
		for i := range v {
			v[i] = roundHalf(v[i])
		}
	}
	return v
}

func TestLoadDasslFixtures(t *testing.T) {
	w := tinyConfig.TransformerWidth
	cases := []struct {
		path, tag string // path under dasslDir: a file or an output folder
		half      bool
		method    string
		csc       bool
		nCls      int
		epoch     int
		params    map[string][]int
	}{
		{"cocoop/prompt_learner/model.pth.tar-1", "dassl/cocoop/1", false, MethodCoCoOp, false, 2, 1, nil},
		{"cocoop", "dassl/cocoop/2", false, MethodCoCoOp, false, 2, 2, nil}, // highest epoch
		{"cocoop/prompt_learner", "dassl/cocoop/2", false, MethodCoCoOp, false, 2, 2, nil},
		{"coop", "dassl/coop/5", true, MethodCoOp, false, 2, 5, map[string][]int{"ctx": {4, w}}},
		{"coop_csc", "dassl/coop_csc/best", false, MethodCoOp, true, 3, 2, map[string][]int{"ctx": {3, 4, w}}}, // model-best first
		{"coop_csc/prompt_learner/model.pth.tar-3", "dassl/coop_csc/3", false, MethodCoOp, true, 3, 3, map[string][]int{"ctx": {3, 4, w}}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			ck, err := LoadCheckpoint(filepath.Join(dasslDir, c.path))
			if err != nil {
				t.Fatal(err)
			}
			params := c.params
			if params == nil {
				params = map[string][]int{"ctx": {4, w}, "meta_net.linear1.weight": {2, 32}, "meta_net.linear1.bias": {2},
					"meta_net.linear2.weight": {w, 2}, "meta_net.linear2.bias": {w}}
			}
			m := ck.Meta
			if m.FormatVersion != DasslFormat || m.Config.Method != c.method || m.Config.NCtx != 4 || m.Config.CSC != c.csc ||
				m.NCls != c.nCls || m.Epoch != c.epoch || m.CLIP.TransformerWidth != w || m.PromptPrefix != "X X X X" {
				t.Errorf("meta %+v", m)
			}
			if (c.method == MethodCoCoOp) != (m.CLIP.EmbedDim == 32) {
				t.Errorf("embed dim %d", m.CLIP.EmbedDim)
			}
			if len(ck.Params) != len(params) {
				t.Errorf("params %v, want %v", slices.Sorted(mapKeys(ck.Params)), params)
			}
			for k, shape := range params {
				got := ck.Params[k]
				if got == nil || !slices.Equal(got.Shape(), shape) {
					t.Errorf("%s: %v, want shape %v", k, got, shape)
					continue
				}
				if !slices.Equal(got.ToSlice(), dasslExpected(c.tag, k, shape, c.half)) {
					t.Errorf("%s: values differ from the hash formula", k)
				}
			}
			// The learner is rebuilt for any class list (CSC: its own count).
			names := []string{"cat", "dog", "sea_lion", "car", "tree"}[:c.nCls+1]
			if c.csc {
				if _, err := ck.NewLearner(tinyCLIP(t), names); err == nil || !strings.Contains(err.Error(), "class-specific") {
					t.Errorf("CSC learner for %d classes: err = %v", len(names), err)
				}
				names = names[:c.nCls]
			}
			l, err := ck.NewLearner(tinyCLIP(t), names)
			if err != nil {
				t.Fatal(err)
			}
			if l.Method() != c.method || !slices.Equal(l.ClassNames(), names) {
				t.Errorf("learner %s for %v", l.Method(), l.ClassNames())
			}
			for _, p := range l.NamedParameters("") {
				if !slices.Equal(p.Var.Value.ToSlice(), ck.Params[p.Name].ToSlice()) {
					t.Errorf("learner's %s is not the checkpoint's", p.Name)
				}
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// badDassl writes a Dassl-shaped file whose state dict is sd (nil: no
// "state_dict" entry) and epoch e (nil: none).
func badDassl(t *testing.T, sd *ckpt.TorchDict, e any) string {
	t.Helper()
	root := &ckpt.TorchDict{}
	if sd != nil {
		root.Set("state_dict", sd)
	}
	if e != nil {
		root.Set("epoch", e)
	}
	path := filepath.Join(t.TempDir(), "model.pth.tar-1")
	if err := ckpt.SaveTorch(path, root); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDasslErrors(t *testing.T) {
	ten := func(shape ...int) *ckpt.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return &ckpt.Tensor{Shape: shape, Data: make([]float32, n)}
	}
	sd := func(kv ...any) *ckpt.TorchDict {
		d := &ckpt.TorchDict{}
		for i := 0; i < len(kv); i += 2 {
			d.Set(kv[i].(string), kv[i+1])
		}
		return d
	}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"no state_dict", badDassl(t, nil, 1), `no "state_dict" entry`},
		{"no epoch", badDassl(t, sd("ctx", ten(4, 64)), nil), `"epoch" is None`},
		{"unknown key", badDassl(t, sd("ctx", ten(4, 64), "image_encoder.proj", ten(2, 2)), 1), `unexpected state_dict key "image_encoder.proj"`},
		{"no ctx", badDassl(t, sd("token_prefix", ten(2, 1, 64)), 1), `no "ctx"`},
		{"ctx not a tensor", badDassl(t, sd("ctx", 3), 1), `state_dict["ctx"] is a int64`},
		{"ctx 1-D", badDassl(t, sd("ctx", ten(64)), 1), `state_dict["ctx"] has shape [64]`},
		{"meta-net partial", badDassl(t, sd("ctx", ten(4, 64), "meta_net.linear1.weight", ten(2, 32)), 1), `no "meta_net.linear1.bias"`},
		{"CoCoOp CSC", badDassl(t, sd("ctx", ten(2, 4, 64), "meta_net.linear1.weight", ten(2, 32)), 1), `CoCoOp's context is [n_ctx, W]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadCheckpoint(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("err = %v, want one naming %s and %q", err, c.path, c.want)
			}
		})
	}
	// A folder without checkpoints.
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, DasslModelName), 0o755)
	if _, err := LoadCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "model.pth.tar-<epoch>") {
		t.Errorf("empty folder: err = %v", err)
	}
	// A Dassl checkpoint does not resume GoCoOp training.
	ck, err := LoadCheckpoint(filepath.Join(dasslDir, "coop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Trainer{}).Resume(ck); err == nil || !strings.Contains(err.Error(), "official code") {
		t.Errorf("Resume: err = %v", err)
	}
}

// exportLearner writes l with SaveDassl (class buffers included) and
// returns the file.
func exportLearner(t *testing.T, l Learner, dir string, epoch int) string {
	t.Helper()
	params := map[string]*tensor.Tensor{}
	for _, p := range l.NamedParameters("") {
		params[p.Name] = p.Var.Value
	}
	pre, suf, err := DasslBuffers(l)
	if err != nil {
		t.Fatal(err)
	}
	path, err := SaveDassl(dir, params, pre, suf, epoch, false)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// dasslLearners are a trained-looking CoCoOp and a CoOp CSC learner.
func dasslLearners(t *testing.T) map[string]Learner {
	m := tinyCLIP(t)
	names := []string{"cat", "sea_lion", "golden retriever"}
	out := map[string]Learner{}
	cfg := DefaultCoCoOpConfig()
	cfg.Seed = 7
	l, err := NewLearner(m, cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	out["cocoop"] = l
	cfg = DefaultCoOpConfig(false)
	cfg.CtxInit, cfg.NCtx, cfg.CSC = "", 3, true
	if l, err = NewLearner(m, cfg, names); err != nil {
		t.Fatal(err)
	}
	out["coop_csc"] = l
	return out
}

func TestDasslExportRoundTrip(t *testing.T) {
	for name, l := range dasslLearners(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := exportLearner(t, l, dir, 7)
			if want := filepath.Join(dir, "prompt_learner", "model.pth.tar-7"); path != want {
				t.Errorf("path %s, want %s", path, want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "prompt_learner", "checkpoint")); err != nil || string(b) != "model.pth.tar-7\n" {
				t.Errorf("checkpoint file %q, %v", b, err)
			}
			ck, err := LoadCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Meta.Epoch != 7 || ck.Meta.Config.Method != l.Method() || ck.Meta.Config.CSC != l.Config().CSC || ck.Meta.NCls != 3 {
				t.Errorf("meta %+v", ck.Meta)
			}
			ps := l.NamedParameters("")
			if len(ck.Params) != len(ps) {
				t.Errorf("%d params, want %d", len(ck.Params), len(ps))
			}
			for _, p := range ps {
				got, want := ck.Params[p.Name], p.Var.Value
				if got == nil || !slices.Equal(got.Shape(), want.Shape()) || !sameBits(got.ToSlice(), want.ToSlice()) {
					t.Errorf("%s does not round-trip bit for bit", p.Name)
				}
			}
			// The class buffers are the learner's own prompts at 77 tokens.
			root, err := ckpt.LoadTorchDict(path)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := root.Get("state_dict")
			sd := v.(*ckpt.TorchDict)
			cp := classPromptsOf(l)
			pre, _ := sd.Get("token_prefix")
			suf, _ := sd.Get("token_suffix")
			p, s := pre.(*ckpt.Tensor), suf.(*ckpt.Tensor)
			nCtx := cp.nCtx
			if !slices.Equal(p.Shape, []int{3, 1, 64}) || !slices.Equal(s.Shape, []int{3, 77 - 1 - nCtx, 64}) {
				t.Fatalf("buffers %v %v", p.Shape, s.Shape)
			}
			if !sameBits(p.Data, cp.prefix.ToSlice()) {
				t.Error("token_prefix differs from the learner's")
			}
			full := tensor.FromSlice(s.Data, s.Shape...).Slice(1, 0, cp.length-1-nCtx).Clone().ToSlice()
			if !sameBits(full, cp.suffix.ToSlice()) {
				t.Error("token_suffix differs from the learner's")
			}
			// Refuses to overwrite; --overwrite replaces; nothing else left.
			params := map[string]*tensor.Tensor{}
			for _, p := range ps {
				params[p.Name] = p.Var.Value
			}
			if _, err := SaveDassl(dir, params, nil, nil, 7, false); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("second export: err = %v", err)
			}
			if _, err := SaveDassl(dir, params, nil, nil, 7, true); err != nil {
				t.Errorf("export with overwrite: %v", err)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, "prompt_learner"))
			if len(ents) != 2 {
				t.Errorf("%d entries in prompt_learner, want 2 (file and checkpoint)", len(ents))
			}
		})
	}
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func classPromptsOf(l Learner) *classPrompts {
	switch v := l.(type) {
	case *CoCoOp:
		return v.classes
	case *CoOp:
		return v.classes
	}
	return nil
}

// TestDasslExportTorchLoads runs torch.load on exported files and loads
// them into prompt learners of the official shapes as the trainers'
// load_model does (token buffers deleted, strict=False).
func TestDasslExportTorchLoads(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s not found: cannot check that torch.load reads the export", py)
	}
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch (%v: %s): cannot check that torch.load reads the export", py, err, out)
	}
	ref, err := filepath.Abs("../bench/reference")
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from make_dassl_fixtures import CoCoOpPromptLearner, CoOpPromptLearner
path, method = sys.argv[2], sys.argv[3]
kw = {} if "1.13" in torch.__version__ else {"weights_only": True}
ck = torch.load(path, map_location="cpu", **kw)
assert sorted(ck) == ["epoch", "optimizer", "scheduler", "state_dict", "val_result"], sorted(ck)
assert ck["optimizer"] is None and ck["scheduler"] is None and ck["val_result"] is None
sd = ck["state_dict"]
out = {"epoch": ck["epoch"], "keys": list(sd), "tensors": {k: [list(v.shape), str(v.dtype), v.flatten().tolist()] for k, v in sd.items()}}
n_cls = sd["token_prefix"].shape[0]
model = CoCoOpPromptLearner(n_cls) if method == "cocoop" else CoOpPromptLearner(n_cls, csc=sd["ctx"].dim() == 3)
if method != "cocoop":
    model.ctx = torch.nn.Parameter(torch.zeros_like(sd["ctx"]))  # n_ctx 3
del sd["token_prefix"], sd["token_suffix"]
missing, unexpected = model.load_state_dict(sd, strict=False)
assert set(missing) == {"token_prefix", "token_suffix"} and not unexpected, (missing, unexpected)
assert torch.equal(model.ctx.data, sd["ctx"])
print(json.dumps(out))
`
	for name, l := range dasslLearners(t) {
		t.Run(name, func(t *testing.T) {
			path := exportLearner(t, l, t.TempDir(), 4)
			out, err := exec.Command(py, "-c", script, ref, path, name).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("torch: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var got struct {
				Epoch   int
				Keys    []string
				Tensors map[string][3]json.RawMessage
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			want := []string{"ctx", "token_prefix", "token_suffix"}
			if name == "cocoop" {
				want = append(want, metaNetParams...)
			}
			if got.Epoch != 4 || !slices.Equal(got.Keys, want) {
				t.Errorf("epoch %d keys %v, want 4 %v", got.Epoch, got.Keys, want)
			}
			pre, suf, _ := DasslBuffers(l)
			vals := map[string]*tensor.Tensor{"token_prefix": pre, "token_suffix": suf}
			for _, p := range l.NamedParameters("") {
				vals[p.Name] = p.Var.Value
			}
			for k, e := range got.Tensors {
				var shape []int
				var dtype string
				var data []float64
				if json.Unmarshal(e[0], &shape) != nil || json.Unmarshal(e[1], &dtype) != nil || json.Unmarshal(e[2], &data) != nil {
					t.Fatalf("%s: bad entry", k)
				}
				w := vals[k]
				if dtype != "torch.float32" || !slices.Equal(shape, w.Shape()) {
					t.Errorf("%s: %s %v, want torch.float32 %v", k, dtype, shape, w.Shape())
					continue
				}
				f := make([]float32, len(data))
				for i, x := range data {
					f[i] = float32(x)
				}
				if !sameBits(f, w.ToSlice()) {
					t.Errorf("%s: torch reads other values", k)
				}
			}
		})
	}
}
