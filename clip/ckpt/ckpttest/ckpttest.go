// Package ckpttest reads the safetensors fixtures that the PyTorch
// reference scripts in bench/reference write for the parity tests (named
// float32 tensors plus string metadata, format_version checked), and
// compares results with them.
package ckpttest

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/tensor"
)

// Fixture is one fixture file.
type Fixture struct {
	Path    string
	Tensors map[string]*tensor.Tensor
	Meta    map[string]string
}

// Read reads the fixture at path and checks that its format_version
// metadata is version; a failure names script, the command that
// regenerates it.
func Read(t testing.TB, path, version, script string) *Fixture {
	t.Helper()
	md, err := ckpt.ReadMetadata(path)
	if err != nil {
		t.Fatalf("%v (regenerate with %s)", err, script)
	}
	if v := md["format_version"]; v != version {
		t.Fatalf("%s: format_version %q, want %q (regenerate with %s)", path, v, version, script)
	}
	sd, _, err := ckpt.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{Path: path, Meta: md, Tensors: map[string]*tensor.Tensor{}}
	for _, k := range sd.Keys() {
		x := sd.Get(k)
		f.Tensors[k] = tensor.FromSlice(x.Data, x.Shape...)
	}
	return f
}

// Get returns the tensor name (fails the test when absent).
func (f *Fixture) Get(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	x, ok := f.Tensors[name]
	if !ok {
		t.Fatalf("%s: no tensor %q", f.Path, name)
	}
	return x
}

// JSON decodes the metadata entry key into v.
func (f *Fixture) JSON(t testing.TB, key string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(f.Meta[key]), v); err != nil {
		t.Fatalf("%s: metadata %s: %v", f.Path, key, err)
	}
}

// Input regenerates the input name described in the "inputs" metadata
// ({name: [shape, scale]}) with gen, the hash-tensor formula the script
// used (clip.HashTensor).
func (f *Fixture) Input(t testing.TB, name string, gen func(name string, scale float32, shape ...int) *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	var inputs map[string][2]json.RawMessage
	f.JSON(t, "inputs", &inputs)
	e, ok := inputs[name]
	var shape []int
	var scale float64
	if !ok || json.Unmarshal(e[0], &shape) != nil || json.Unmarshal(e[1], &scale) != nil {
		t.Fatalf("%s: input %q not described", f.Path, name)
	}
	return gen(name, float32(scale), shape...)
}

// Compare checks got against the fixture tensor name within tol
// (tensor.RelErr) and returns the error.
func (f *Fixture) Compare(t testing.TB, name string, got *tensor.Tensor, tol float64) float64 {
	t.Helper()
	want := f.Get(t, name)
	if got == nil {
		t.Errorf("%s: got nil", name)
		return math.Inf(1)
	}
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
		return math.Inf(1)
	}
	e := tensor.RelErr(got, want)
	if !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.0e", name, e, tol)
	}
	return e
}
