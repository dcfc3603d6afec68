package cocoop

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt/ckpttest"
	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/tensor"
)

// fixtureFormatVersion must match FORMAT_VERSION in
// bench/reference/make_cocoop_fixtures.py.
const fixtureFormatVersion = "1"

// tinyConfig is make_parity.py's TINY CLIP.
var tinyConfig = cliptest.Tiny

var (
	tinyOnce  sync.Once
	tinyModel *clip.CLIP
	tinyErr   error
)

// tinyCLIP returns the shared hash-weight TINY CLIP (frozen, read-only).
func tinyCLIP(t testing.TB) *clip.CLIP {
	t.Helper()
	tinyOnce.Do(func() { tinyModel, tinyErr = clip.NewHashCLIP(tinyConfig) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyModel
}

// setFullPrompts sets the model's text-tower route (the shortcut, or every
// prompt at 77 tokens) for the rest of the test; the shortcut is restored
// when it ends.
func setFullPrompts(t testing.TB, m *clip.CLIP, on bool) {
	m.Text.FullPrompts = on
	t.Cleanup(func() { m.Text.FullPrompts = false })
}

// fixture is a safetensors parity file with its metadata.
type fixture struct{ *ckpttest.Fixture }

func readFixture(t testing.TB, name string) *fixture {
	t.Helper()
	return &fixture{ckpttest.Read(t, filepath.Join("testdata", name), fixtureFormatVersion, "/usr/bin/python3 bench/reference/make_cocoop_fixtures.py")}
}

// input regenerates a hashed input named in the "inputs" metadata.
func (f *fixture) input(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	return f.Input(t, name, func(name string, scale float32, shape ...int) *tensor.Tensor {
		return clip.HashTensor(name, scale, 0, shape...)
	})
}

// initParams regenerates the meta-net start point of the "init" metadata.
func (f *fixture) initParams(t testing.TB) map[string]*tensor.Tensor {
	t.Helper()
	var init map[string][4]json.RawMessage
	f.JSON(t, "init", &init)
	out := map[string]*tensor.Tensor{}
	for k, e := range init {
		var name string
		var shape []int
		var scale, offset float64
		if json.Unmarshal(e[0], &name) != nil || json.Unmarshal(e[1], &shape) != nil ||
			json.Unmarshal(e[2], &scale) != nil || json.Unmarshal(e[3], &offset) != nil {
			t.Fatalf("%s: init %q: bad entry", f.Path, k)
		}
		out[k] = clip.HashTensor(name, float32(scale), float32(offset), shape...)
	}
	return out
}

// paramsOf returns the live parameter tensors of l by name.
func paramsOf(l Learner) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, p := range l.NamedParameters("") {
		out[p.Name] = p.Var.Value
	}
	return out
}

// gradsOf returns the parameter gradients of l by name.
func gradsOf(l Learner) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, p := range l.NamedParameters("") {
		out[p.Name] = p.Var.Grad
	}
	return out
}

// bitsEqual reports whether a and b hold the same float32 bits.
func bitsEqual(a, b *tensor.Tensor) bool {
	x, y := a.ToSlice(), b.ToSlice()
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
