package ckpt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	tensors := map[string]*Tensor{"a": {Shape: []int{2}, Data: []float32{1, 2}}}
	withMeta := filepath.Join(dir, "meta.safetensors")
	want := map[string]string{"format": "x", "json": `{"k":[1,2]}`, "empty": ""}
	if err := SaveSafetensors(withMeta, nil, tensors, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetadata(withMeta)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	noMeta := filepath.Join(dir, "plain.safetensors")
	if err := SaveSafetensors(noMeta, nil, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadMetadata(noMeta); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no metadata: got %v, %v; want an empty map", got, err)
	}

	// Errors name the path and wrap the package's sentinel errors.
	b, _ := os.ReadFile(withMeta)
	truncated := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(truncated, b[:20], 0o644)
	notST := filepath.Join(dir, "zip.pt")
	os.WriteFile(notST, []byte("PK\x03\x04 a zip, not safetensors"), 0o644)
	for _, tc := range []struct {
		path string
		is   error
	}{
		{truncated, ErrCorrupt},
		{notST, ErrUnknownFormat},
		{filepath.Join(dir, "missing.safetensors"), os.ErrNotExist},
	} {
		_, err := ReadMetadata(tc.path)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), filepath.Base(tc.path)) {
			t.Errorf("%s: error %v, want %v naming the file", tc.path, err, tc.is)
		}
	}
}
