// Package ckpt reads CLIP checkpoints into float32 state dicts and writes
// safetensors files.
//
// Load detects the format from the file's content, never its name:
//
//   - Hugging Face CLIPModel safetensors (text_model.*, vision_model.*),
//     mapped to OpenAI names (docs/clip.md §2.3);
//   - safetensors with OpenAI / open_clip names;
//   - a torch.save zip holding a state dict (.pt, .bin);
//   - OpenAI's release TorchScript archive (torch.jit.save zip).
//
// Every tensor comes back as contiguous row-major float32 whatever its stored
// dtype (F16, BF16, F64, integer types are converted). Keys follow the
// OpenAI state_dict names of docs/clip.md §2.1; the int64 buffers
// input_resolution, context_length and vocab_size are dropped.
//
// The package depends only on the standard library and golang.org/x/sys, so
// it builds without the rest of the module. Files are memory-mapped where
// the platform allows and read through io.ReaderAt elsewhere.
package ckpt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gocoop/gocoop/asm"
)

// Tensor is a dense row-major float32 tensor. A scalar has an empty Shape
// and one element.
type Tensor struct {
	Shape []int
	Data  []float32
	// Half holds the IEEE binary16 bits, row-major, instead of Data (then
	// nil) for a tensor the file stores as F16, when loaded with
	// LoadOptions.KeepHalf.
	Half []uint16
}

// LoadOptions tunes LoadWith.
type LoadOptions struct {
	// KeepHalf keeps the tensors a file stores as F16 in Tensor.Half
	// instead of widening them to float32 (Hugging Face checkpoints, whose
	// q, k, v projections are joined, are widened all the same).
	KeepHalf bool
}

// Numel returns the number of elements the shape describes.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// StateDict is an ordered map from parameter name to tensor. Keys keep the
// order in which they were found in the file.
type StateDict struct {
	keys []string
	m    map[string]*Tensor
}

// NewStateDict returns an empty state dict.
func NewStateDict() *StateDict {
	return &StateDict{m: make(map[string]*Tensor)}
}

// Get returns the tensor stored under name, or nil.
func (s *StateDict) Get(name string) *Tensor { return s.m[name] }

// Keys returns the names in order. The slice is a copy.
func (s *StateDict) Keys() []string { return append([]string(nil), s.keys...) }

// Len returns the number of tensors.
func (s *StateDict) Len() int { return len(s.keys) }

// Set stores t under name, appending name if it is new and keeping its
// position otherwise.
func (s *StateDict) Set(name string, t *Tensor) {
	if _, ok := s.m[name]; !ok {
		s.keys = append(s.keys, name)
	}
	s.m[name] = t
}

// Delete removes name if present.
func (s *StateDict) Delete(name string) {
	if _, ok := s.m[name]; !ok {
		return
	}
	delete(s.m, name)
	for i, k := range s.keys {
		if k == name {
			s.keys = append(s.keys[:i], s.keys[i+1:]...)
			break
		}
	}
}

// Map returns the underlying name → tensor map (shared, not copied), the
// form SaveSafetensors takes.
func (s *StateDict) Map() map[string]*Tensor { return s.m }

// Format is a checkpoint file format recognised by Load.
type Format int

// Formats recognised by Load.
const (
	FormatUnknown       Format = iota
	FormatSafetensors          // safetensors with OpenAI / open_clip names
	FormatHFSafetensors        // Hugging Face CLIPModel safetensors
	FormatTorchZip             // torch.save zip of a state dict
	FormatTorchScript          // torch.jit.save archive (OpenAI release .pt)
)

func (f Format) String() string {
	switch f {
	case FormatSafetensors:
		return "safetensors"
	case FormatHFSafetensors:
		return "hf-safetensors"
	case FormatTorchZip:
		return "torch-zip"
	case FormatTorchScript:
		return "torchscript"
	}
	return "unknown"
}

// Errors wrapped by Load and SaveSafetensors; test with errors.Is.
var (
	// ErrUnknownFormat: the file is not a checkpoint format Load knows.
	ErrUnknownFormat = errors.New("unknown format")
	// ErrCorrupt: the file is truncated or internally inconsistent.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrUnsupported: a well-formed file uses a feature Load lacks (a dtype,
	// the legacy pre-1.6 torch format, big-endian storages, ...).
	ErrUnsupported = errors.New("unsupported checkpoint")
)

// droppedBuffers are the int64 scalars the release archives carry and
// build_model deletes (docs/clip.md §2.2).
var droppedBuffers = []string{"input_resolution", "context_length", "vocab_size"}

// Load reads a CLIP checkpoint and returns its tensors as float32 under
// OpenAI state_dict names, together with the format it detected.
//
// A torch checkpoint wrapped as {"state_dict": {...}, ...} is unwrapped, and
// a "module." prefix shared by every key (DataParallel) is stripped, as is
// any other leading component shared by every key when the rest are CLIP
// names ("model." of a traced or saved wrapper module). Hugging Face names
// are mapped in every container, not only safetensors (pytorch_model.bin).
// Errors name the path and, where one is at fault, the tensor key.
func Load(path string) (*StateDict, Format, error) {
	return LoadWith(path, LoadOptions{})
}

// LoadWith is Load with options.
func LoadWith(path string, opt LoadOptions) (*StateDict, Format, error) {
	src, err := openSource(path)
	if err != nil {
		return nil, FormatUnknown, err
	}
	defer src.Close()
	return loadSource(path, src, opt)
}

// loadSource is LoadWith on an opened source; path is used in messages only.
func loadSource(path string, src source, opt LoadOptions) (*StateDict, Format, error) {
	size := src.Size()
	if size == 0 {
		return nil, FormatUnknown, fmt.Errorf("%s: not a CLIP checkpoint: %w (empty file)", path, ErrUnknownFormat)
	}
	head, err := src.slice(0, min(size, 16))
	if err != nil {
		return nil, FormatUnknown, fmt.Errorf("%s: %w", path, err)
	}
	var (
		sd     *StateDict
		format Format
	)
	switch {
	case isZip(head):
		sd, format, err = loadZip(path, src, opt.KeepHalf)
	case isLegacyTorch(head):
		err = fmt.Errorf("%s: %w: legacy (pre-1.6, non-zip) torch.save format; re-save with torch>=1.6", path, ErrUnsupported)
	case len(head) > 8 && head[8] == '{':
		sd, format, err = loadSafetensors(path, src, opt.KeepHalf)
	default:
		err = fmt.Errorf("%s: not a CLIP checkpoint: %w (first bytes % x)", path, ErrUnknownFormat, head)
	}
	if err != nil {
		return nil, format, err
	}
	finish(sd)
	// Hugging Face names that loadSafetensors did not map: a torch.save of a
	// CLIPModel state dict (pytorch_model.bin), or HF names under a wrapper
	// prefix.
	if format != FormatHFSafetensors && slices.ContainsFunc(sd.keys, isHFName) {
		for _, t := range sd.m {
			t.widen()
		}
		if sd, err = fromHF(sd); err != nil {
			return nil, format, fmt.Errorf("%s: %w", path, err)
		}
		if format == FormatSafetensors {
			format = FormatHFSafetensors
		}
	}
	return sd, format, nil
}

// finish drops the int64 buffers and leading name components shared by
// every key — DataParallel's "module.", a wrapper module's attribute
// ("model." when a module holding CLIP was traced or saved) — as long as
// what remains has CLIP's own names (isCLIPMarker).
func finish(sd *StateDict) {
	for _, k := range droppedBuffers {
		sd.Delete(k)
	}
	for sd.Len() > 0 {
		first, _, ok := strings.Cut(sd.keys[0], ".")
		prefix := first + "."
		if !ok {
			return
		}
		marker := prefix == "module." // DataParallel: always stripped
		for _, k := range sd.keys {
			rest, ok := strings.CutPrefix(k, prefix)
			if !ok || isCLIPMarker(k) {
				return
			}
			marker = marker || isCLIPMarker(rest)
		}
		if !marker {
			return
		}
		// Stripping cannot collide: the keys were distinct with the same prefix.
		m := make(map[string]*Tensor, len(sd.m))
		for i, k := range sd.keys {
			short := strings.TrimPrefix(k, prefix)
			m[short] = sd.m[k]
			sd.keys[i] = short
		}
		sd.m = m
		for _, k := range droppedBuffers {
			sd.Delete(k)
		}
	}
}

// isCLIPMarker reports a top-level name of a CLIP state dict, OpenAI or
// Hugging Face (or one of the buffers).
func isCLIPMarker(k string) bool {
	switch k {
	case "logit_scale", "text_projection", "positional_embedding", "visual.proj",
		"input_resolution", "context_length", "vocab_size":
		return true
	}
	return isHFName(k) || strings.HasPrefix(k, "visual.") || strings.HasPrefix(k, "transformer.resblocks.")
}

// widen replaces Half by its float32 values in Data.
func (t *Tensor) widen() {
	if t.Half == nil {
		return
	}
	t.Data = make([]float32, len(t.Half))
	asm.WidenHalf(t.Data, t.Half)
	t.Half = nil
}
