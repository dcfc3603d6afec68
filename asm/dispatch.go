package asm

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Tier is a family of kernels tied to an instruction-set level.
// Within an architecture, higher tiers are faster; a tier can only be
// selected when the CPU and the operating system support it.
type Tier int

// The kernel tiers. On amd64 they run from slowest to fastest: Generic,
// AVX2, AVX512; on arm64 Generic and NEON.
const (
	// Generic is the portable pure-Go tier, available everywhere.
	Generic Tier = iota
	// AVX2 needs AVX2, FMA3 and OS support for YMM state.
	AVX2
	// AVX512 needs AVX-512 F/DQ/BW/VL and OS support for ZMM and opmask state.
	AVX512
	// NEON is arm64's tier: ASIMD (Advanced SIMD), present on every
	// arm64 CPU that runs Go; dispatch still checks the feature bit.
	NEON

	numTiers = iota
)

// String returns the tier's name as accepted by GOCOOP_SIMD.
func (t Tier) String() string {
	switch t {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	case NEON:
		return "neon"
	}
	return fmt.Sprintf("Tier(%d)", int(t))
}

// EnvSIMD is the environment variable that caps the tier chosen at start-up:
// "avx512", "avx2", "neon" or "generic". A tier this CPU does not support
// (above what it supports, or of another architecture) gives the best
// supported one, with a warning on stderr.
const EnvSIMD = "GOCOOP_SIMD"

// kernels is the set of function values of one tier.
type kernels struct {
	tier Tier
	gemm *gemmConfig
	rows rowKernels
}

// newKernels assembles a tier from a copy of its gemm config, which must
// validate: a mismatch (a panel copier wider than the tile) would corrupt
// memory, so it panics here, at start-up.
func newKernels(t Tier, g gemmConfig, rows rowKernels) *kernels {
	if err := g.validate(); err != nil {
		panic(fmt.Sprintf("%v (tier %v)", err, t))
	}
	return &kernels{tier: t, gemm: &g, rows: rows}
}

var (
	// tiers[t] is nil when tier t is not supported on this machine.
	tiers   [numTiers]*kernels
	current atomic.Pointer[kernels]
)

func init() {
	tiers[Generic] = genericKernels()
	registerArchTiers() // fills tiers[AVX2], tiers[AVX512] or tiers[NEON] where supported
	best := Generic
	for t := Tier(numTiers - 1); t > Generic; t-- {
		if tiers[t] != nil {
			best = t
			break
		}
	}
	if env := strings.TrimSpace(strings.ToLower(os.Getenv(EnvSIMD))); env != "" {
		want, ok := parseTier(env)
		switch {
		case !ok:
			fmt.Fprintf(os.Stderr, "gocoop/asm: %s=%q is not one of avx512, avx2, neon, generic; using %v\n", EnvSIMD, env, best)
		case tiers[want] == nil:
			fmt.Fprintf(os.Stderr, "gocoop/asm: %s=%s is not supported by this CPU; using %v\n", EnvSIMD, want, best)
		case want < best:
			best = want
		}
	}
	current.Store(tiers[best])
}

func parseTier(s string) (Tier, bool) {
	switch s {
	case "avx512", "avx-512":
		return AVX512, true
	case "avx2":
		return AVX2, true
	case "neon", "asimd":
		return NEON, true
	case "generic", "go", "purego":
		return Generic, true
	}
	return Generic, false
}

// CurrentTier returns the tier the kernels dispatch to.
func CurrentTier() Tier { return current.Load().tier }

// SetTier selects the kernels of tier t for all later calls. It is meant for
// tests and benchmarks; it returns an error if t is not supported here.
// Calls already running finish on the tier they started with.
func SetTier(t Tier) error {
	if t < Generic || t >= numTiers || tiers[t] == nil {
		return fmt.Errorf("asm: tier %v is not supported on this machine (supported: %v)", t, SupportedTiers())
	}
	current.Store(tiers[t])
	return nil
}

// SupportedTiers lists the tiers this machine and build can run, fastest
// last. Generic is always present.
func SupportedTiers() []Tier {
	var out []Tier
	for t, k := range tiers {
		if k != nil {
			out = append(out, Tier(t))
		}
	}
	return out
}
