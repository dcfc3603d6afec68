package asm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestTiers(t *testing.T) {
	sup := SupportedTiers()
	if len(sup) == 0 || sup[0] != Generic {
		t.Fatalf("SupportedTiers() = %v, want Generic first", sup)
	}
	if os.Getenv(EnvSIMD) == "" && CurrentTier() != sup[len(sup)-1] {
		t.Fatalf("CurrentTier() = %v, want best %v", CurrentTier(), sup[len(sup)-1])
	}
	old := CurrentTier()
	defer SetTier(old)
	for _, tier := range []Tier{Generic, AVX2, AVX512, Tier(7)} {
		err := SetTier(tier)
		supported := false
		for _, s := range sup {
			supported = supported || s == tier
		}
		if (err == nil) != supported {
			t.Fatalf("SetTier(%v) = %v, supported %v", tier, err, supported)
		}
		if err == nil && CurrentTier() != tier {
			t.Fatalf("CurrentTier() = %v after SetTier(%v)", CurrentTier(), tier)
		}
	}
}

// TestEnvSIMD re-runs this test binary with GOCOOP_SIMD set and checks the
// tier chosen at init (and the clamp warning for an unknown value).
func TestEnvSIMD(t *testing.T) {
	if os.Getenv("GOCOOP_SIMD_CHILD") != "" {
		os.Stdout.WriteString("TIER=" + CurrentTier().String() + "\n")
		return
	}
	sup := SupportedTiers()
	for _, tc := range []struct{ env, want string }{
		{"generic", "generic"},
		{"avx2", map[bool]string{true: "avx2", false: "generic"}[len(sup) > 1]},
		{"avx512", sup[len(sup)-1].String()},
		{"bogus", sup[len(sup)-1].String()},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvSIMD$")
		cmd.Env = append(os.Environ(), "GOCOOP_SIMD_CHILD=1", EnvSIMD+"="+tc.env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s", EnvSIMD, tc.env, err, out)
		}
		if !strings.Contains(string(out), "TIER="+tc.want+"\n") {
			t.Errorf("%s=%s: got %q, want tier %s", EnvSIMD, tc.env, out, tc.want)
		}
		if tc.env == "bogus" && !strings.Contains(string(out), "not one of") {
			t.Errorf("%s=bogus: no warning in %q", EnvSIMD, out)
		}
	}
}
