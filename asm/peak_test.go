package asm

import (
	"testing"
	"time"
)

// TestPeakLoop runs every supported tier's FMA loop and checks the FLOPs
// it reports (no timing: the rate itself is the benchmark's business).
func TestPeakLoop(t *testing.T) {
	for _, tier := range SupportedTiers() {
		per := PeakFLOPPerIter(tier)
		if per == 0 {
			if tier == NEON {
				continue // no NEON loop yet (documented)
			}
			t.Errorf("%v: no peak loop", tier)
			continue
		}
		for _, n := range []int{1, 7, 1000} {
			f, err := PeakLoop(tier, n)
			if err != nil {
				t.Fatalf("%v: %v", tier, err)
			}
			if f != per*float64(n) {
				t.Errorf("%v, n %d: %v FLOP, want %v", tier, n, f, per*float64(n))
			}
		}
		r, err := MeasurePeak(tier, 2, time.Millisecond, 2)
		if err != nil || !(r > 0) {
			t.Errorf("%v: MeasurePeak = %v, %v", tier, r, err)
		}
	}
	want := map[Tier]float64{Generic: 24}
	if hasPeakLoop(AVX512) {
		want[AVX512], want[AVX2] = 384, 192
	}
	for tier, f := range want {
		if got := PeakFLOPPerIter(tier); got != f {
			t.Errorf("PeakFLOPPerIter(%v) = %v, want %v", tier, got, f)
		}
	}
	if _, err := PeakLoop(Generic, 0); err == nil {
		t.Error("PeakLoop(n = 0) accepted")
	}
	if _, err := PeakLoop(Tier(numTiers), 1); err == nil {
		t.Error("PeakLoop of an unknown tier accepted")
	}
}
