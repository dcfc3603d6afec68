package clip

import (
	"fmt"
	"math"
	"strings"

	"github.com/gocoop/gocoop/tensor"
)

// Hash weights: deterministic, full-size CLIP weights that Go and Python
// (bench/reference/clip_ref.py, NumPy uint64 arithmetic) compute bit for bit,
// so parity fixtures need only the outputs, never the 600 MB of weights.
//
// For a tensor named name (a state-dict key, or any label such as
// "parity.image") and its row-major element index i:
//
//	h = FNV-1a-64(name)
//	z = h + (i+1)·0x9E3779B97F4A7C15          (mod 2⁶⁴; splitmix64's state)
//	z = (z ⊕ z>>30)·0xBF58476D1CE4E5B9
//	z = (z ⊕ z>>27)·0x94D049BB133111EB
//	z =  z ⊕ z>>31
//	u = (int(z>>40) − 2²³) · 2⁻²³              (exact float32 in [−1, 1))
//	v = float32(scale·u) + offset              (one float32 product, one sum)
//
// scale and offset come from HashInit; every step is exact or a single
// correctly rounded float32 operation, so NumPy reproduces it exactly.

const (
	fnvOffset64 = 0xcbf29ce484222325
	fnvPrime64  = 0x100000001b3
	splitGamma  = 0x9E3779B97F4A7C15
)

// HashLogitScale is the value HashStateDict gives logit_scale: float32(ln 100),
// the released checkpoints' value (exp = 100).
const HashLogitScale float32 = 4.6051702

// fnv1a64 is the 64-bit FNV-1a hash of s.
func fnv1a64(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// hashUniform is u for (name hash h, element i): an exact multiple of 2⁻²³
// in [−1, 1).
func hashUniform(h uint64, i int) float32 {
	z := h + uint64(i+1)*splitGamma
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float32(int32(z>>40)-1<<23) * (1.0 / (1 << 23))
}

// HashInit returns the scale and offset of the hash initialisation of the
// CLIP state-dict entry name with the given shape, chosen like a sane init:
//
//	logit_scale                       constant HashLogitScale (scale 0)
//	*.ln_*.weight, ln_final.weight    1 + 0.1·u
//	*.ln_*.bias, ln_final.bias        0.1·u
//	token_embedding.weight            0.02·u
//	positional_embedding (text)       0.01·u
//	visual.class_embedding, visual.positional_embedding   u/√width
//	visual.proj, text_projection ([in, out])               u/√in
//	*bias (Linear, in_proj)           0.02·u
//	*weight (Linear [out, in], conv1 [D, C, P, P])         u/√(fan in)
//
// Any other name uses scale 1, offset 0 (e.g. test inputs).
func HashInit(name string, shape []int) (scale, offset float32) {
	parts := strings.Split(name, ".")
	last, parent := parts[len(parts)-1], ""
	if len(parts) > 1 {
		parent = parts[len(parts)-2]
	}
	invSqrt := func(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }
	fanIn := 1
	for _, d := range shape[min(1, len(shape)):] {
		fanIn *= d
	}
	switch {
	case name == "logit_scale":
		return 0, HashLogitScale
	case strings.HasPrefix(parent, "ln_") && last == "weight":
		return 0.1, 1
	case strings.HasPrefix(parent, "ln_") && last == "bias":
		return 0.1, 0
	case name == "token_embedding.weight":
		return 0.02, 0
	case name == "positional_embedding":
		return 0.01, 0
	case last == "class_embedding" || last == "positional_embedding":
		return invSqrt(shape[len(shape)-1]), 0
	case last == "proj" || last == "text_projection":
		return invSqrt(shape[0]), 0
	case strings.HasSuffix(last, "bias"):
		return 0.02, 0
	case strings.HasSuffix(last, "weight"):
		return invSqrt(fanIn), 0
	}
	return 1, 0
}

// HashFill writes the hash values of name into dst (element i of dst is
// element i of the tensor), with the given scale and offset, in parallel.
func HashFill(dst []float32, name string, scale, offset float32) {
	hashFillAt(dst, name, scale, offset, 0)
}

// hashFillAt writes elements first..first+len(dst) of the hash tensor name.
func hashFillAt(dst []float32, name string, scale, offset float32, first int) {
	h := fnv1a64(name)
	tensor.ParallelFor(len(dst), 8, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = float32(scale*hashUniform(h, first+i)) + offset
		}
	})
}

// HashTensor returns the tensor name of the given shape filled by the hash
// formula with scale and offset (see HashInit for the CLIP weights').
func HashTensor(name string, scale, offset float32, shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	HashFill(data, name, scale, offset)
	return tensor.FromSlice(data, shape...)
}

// HashStateDict returns a complete CLIP state dict for cfg, every entry
// filled by the hash formula with HashInit's scale: deterministic full-size
// weights that bench/reference/clip_ref.py reproduces bit-exactly.
// Tensors are generated in parallel (ViT-B/16's 150M values take about a
// second on two cores).
func HashStateDict(cfg Config) (map[string]*tensor.Tensor, error) {
	return hashStateDict(cfg, false)
}

// hashStateDict is HashStateDict with, when half, the weight matrices
// (HalfWeight) made float16 (hashTensorHalf).
func hashStateDict(cfg Config, half bool) (map[string]*tensor.Tensor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	names, shapes := cfg.StateDictShapes()
	sd := make(map[string]*tensor.Tensor, len(names))
	for _, k := range names {
		scale, offset := HashInit(k, shapes[k])
		if half && HalfWeight(k, shapes[k]) {
			sd[k] = hashTensorHalf(k, scale, offset, shapes[k]...)
		} else {
			sd[k] = HashTensor(k, scale, offset, shapes[k]...)
		}
	}
	return sd, nil
}

// HashChecksum is an exact, order-independent fingerprint of float32 data:
// the sum of the IEEE-754 bit patterns as uint64 (Python: a.view(np.uint32)
// .astype(np.uint64).sum()). Equal checksums of hash tensors computed by Go
// and by NumPy are strong evidence of bit-exact equality.
func HashChecksum(data []float32) uint64 {
	var s uint64
	for _, v := range data {
		s += uint64(math.Float32bits(v))
	}
	return s
}

// NewHashCLIP builds a CLIP of configuration cfg with hash weights (frozen).
func NewHashCLIP(cfg Config) (*CLIP, error) {
	sd, err := HashStateDict(cfg)
	if err != nil {
		return nil, err
	}
	return hashCLIP(sd)
}

func hashCLIP(sd map[string]*tensor.Tensor) (*CLIP, error) {
	m, err := FromStateDict(sd)
	if err != nil {
		return nil, fmt.Errorf("clip: hash weights: %w", err)
	}
	return m, nil
}
