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
	for _, tier := range []Tier{Generic, AVX2, AVX512, NEON, Tier(7)} {
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
	best := sup[len(sup)-1]
	// orBest is t where this machine supports it, else the best tier.
	orBest := func(t Tier) string {
		if tiers[t] != nil {
			return t.String()
		}
		return best.String()
	}
	for _, tc := range []struct{ env, want string }{
		{"generic", "generic"},
		{"avx2", orBest(AVX2)},
		{"avx512", orBest(AVX512)},
		{"neon", orBest(NEON)},
		{"bogus", best.String()},
	} {
		cmd := selfCommand("-test.run=^TestEnvSIMD$")
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
		if tc.env != "bogus" && tc.want != tc.env && !strings.Contains(string(out), "not supported by this CPU") {
			t.Errorf("%s=%s: no warning in %q", EnvSIMD, tc.env, out)
		}
	}
}

// envTestEmulator names the emulator that runs this test binary when it is
// built for another architecture (.ci/run sets it to qemu-aarch64-static
// for the arm64 tests): tests that re-execute their own binary run the
// child through it, since the kernel may not know how to run the binary
// (no binfmt_misc entry).
const envTestEmulator = "GOCOOP_TEST_EMULATOR"

// selfCommand returns a command that re-executes this test binary with
// args, through $GOCOOP_TEST_EMULATOR when set.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv(envTestEmulator); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}
