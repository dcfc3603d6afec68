package ckpt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadTorchDictWrapped(t *testing.T) {
	d, err := LoadTorchDict(filepath.Join("testdata", "tiny_wrapped.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Get("epoch"); v != int64(3) {
		t.Errorf("epoch = %v (%T), want 3", v, v)
	}
	v, _ := d.Get("state_dict")
	sd, ok := v.(*TorchDict)
	if !ok {
		t.Fatalf("state_dict is %T", v)
	}
	want, _, err := Load(filepath.Join("testdata", "tiny_wrapped.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Keys) != want.Len() {
		t.Errorf("%d tensors in state_dict, Load gives %d", len(sd.Keys), want.Len())
	}
	for i, k := range sd.Keys {
		got, ok := sd.Values[i].(*Tensor)
		w := want.Get(strings.TrimPrefix(k, "module."))
		if !ok || w == nil || !slices.Equal(got.Data, w.Data) {
			t.Errorf("state_dict[%q] differs from Load's", k)
		}
	}
}

func TestLoadTorchDictNotZip(t *testing.T) {
	_, err := LoadTorchDict(filepath.Join("testdata", "tiny_openai.safetensors"))
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "tiny_openai.safetensors") {
		t.Errorf("err = %v, want ErrUnknownFormat naming the file", err)
	}
}

// savedDict is a training checkpoint with every value type SaveTorch takes.
func savedDict() *TorchDict {
	sd := &TorchDict{Ordered: true}
	sd.Set("ctx", &Tensor{Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-30, -7}})
	sd.Set("scalar", &Tensor{Shape: []int{}, Data: []float32{0.25}})
	sd.Set("empty", &Tensor{Shape: []int{0, 4}, Data: []float32{}})
	d := &TorchDict{}
	d.Set("state_dict", sd).Set("epoch", 10).Set("big", int64(1)<<40).Set("neg", -70000)
	d.Set("lr", 0.002).Set("name", "prompt_learner").Set("ok", true).Set("optimizer", nil)
	return d
}

func TestSaveTorchRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.pth.tar-10")
	if err := SaveTorch(path, savedDict()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTorchDict(path)
	if err != nil {
		t.Fatal(err)
	}
	want := savedDict()
	if !slices.Equal(got.Keys, want.Keys) {
		t.Fatalf("keys %v, want %v", got.Keys, want.Keys)
	}
	for i, k := range want.Keys {
		switch w := want.Values[i].(type) {
		case int:
			if got.Values[i] != int64(w) {
				t.Errorf("%s = %v, want %d", k, got.Values[i], w)
			}
		case *TorchDict:
			g := got.Values[i].(*TorchDict)
			for j, name := range w.Keys {
				gt, wt := g.Values[j].(*Tensor), w.Values[j].(*Tensor)
				if g.Keys[j] != name || !slices.Equal(gt.Shape, wt.Shape) || !slices.Equal(gt.Data, wt.Data) {
					t.Errorf("state_dict[%q] = %v %v, want %v %v", name, gt.Shape, gt.Data, wt.Shape, wt.Data)
				}
			}
		default:
			if got.Values[i] != w {
				t.Errorf("%s = %v, want %v", k, got.Values[i], w)
			}
		}
	}
	// Load (the CLIP path) reads the state dict out of the wrapper too.
	sd, _, err := Load(path)
	if err != nil || sd.Len() != 3 {
		t.Fatalf("Load: %v, %v", sd, err)
	}
	// No temporary file is left beside it.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("%d files in the folder, want 1", len(ents))
	}
}

// torchPython returns /usr/bin/python3 when it imports torch; otherwise
// the test is skipped with the reason.
func torchPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s not found: cannot check that torch.load reads the file", py)
	}
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch (%v: %s): cannot check that torch.load reads the file", py, err, out)
	}
	return py
}

func TestSaveTorchTorchLoads(t *testing.T) {
	py := torchPython(t)
	path := filepath.Join(t.TempDir(), "model.pth.tar-10")
	if err := SaveTorch(path, savedDict()); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, torch, zipfile
p = sys.argv[1]
for info in zipfile.ZipFile(p).infolist():
    with open(p, "rb") as f:
        f.seek(info.header_offset + 26)
        n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    assert (info.header_offset + 30 + n + m) % 64 == 0, info.filename
# torch 1.13's weights_only unpickler lacks BINFLOAT (any float value).
for wo in (False,) + ((True,) if "1.13" not in torch.__version__ else ()):
    d = torch.load(p, map_location="cpu", weights_only=wo)
    assert list(d) == ["state_dict", "epoch", "big", "neg", "lr", "name", "ok", "optimizer"], list(d)
    sd = d["state_dict"]
    assert type(sd).__name__ == "OrderedDict"
    assert sd["ctx"].dtype == torch.float32 and sd["ctx"].shape == (2, 3)
    assert sd["ctx"].tolist() == [[1, -2, 3.5], [0, torch.tensor(1e-30).item(), -7]], sd["ctx"].tolist()
    assert sd["scalar"].shape == () and sd["scalar"].item() == 0.25
    assert sd["empty"].shape == (0, 4)
    assert (d["epoch"], d["big"], d["neg"], d["lr"], d["name"], d["ok"], d["optimizer"]) == (10, 1 << 40, -70000, 0.002, "prompt_learner", True, None)
print("ok")
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("torch.load: %v\n%s", err, out)
	}
}

// An optimizer's state is a collections.defaultdict(dict) keyed by
// parameter index: it unpickles as a dict.
func TestUnpickleDefaultdict(t *testing.T) {
	v, err := unpickle([]byte("\x80\x02ccollections\ndefaultdict\nc__builtin__\ndict\n\x85R(K\x00}u."), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := v.(*pyDict)
	if !ok || len(d.keys) != 1 || d.keys[0] != int64(0) {
		t.Fatalf("got %s %v", typeName(v), v)
	}
}
