package asm

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// peakChainsGo is the number of independent multiply-add chains per
// iteration of the generic loop (gen_peak.go uses the same for its FMA
// loops).
const peakChainsGo = 12

// PeakFLOPPerIter returns the floating-point operations one iteration of
// tier t's FMA-throughput loop does, or 0 when t has no loop on this
// build: 12 FMAs × lanes × 2 on amd64's AVX-512 (384) and AVX2 (192), 12
// scalar multiply-adds × 2 for Generic (24). There is no NEON loop yet.
func PeakFLOPPerIter(t Tier) float64 {
	switch t {
	case Generic:
		return 2 * peakChainsGo
	case AVX512:
		if hasPeakLoop(t) {
			return 2 * peakChainsGo * 16
		}
	case AVX2:
		if hasPeakLoop(t) {
			return 2 * peakChainsGo * 8
		}
	}
	return 0
}

// PeakLoop runs tier t's FMA-throughput loop for n ≥ 1 iterations and
// returns the FLOPs it did: independent multiply-adds on registers, no
// memory traffic, so that the time it takes is the core's arithmetic peak
// for that tier's vector width. It returns an error for a tier this
// machine or build cannot run.
func PeakLoop(t Tier, n int) (float64, error) {
	if n < 1 {
		return 0, fmt.Errorf("asm: PeakLoop with n = %d", n)
	}
	if t != Generic && (int(t) >= numTiers || tiers[t] == nil) {
		return 0, fmt.Errorf("asm: tier %v is not supported on this machine", t)
	}
	f := PeakFLOPPerIter(t)
	if f == 0 {
		return 0, fmt.Errorf("asm: no FMA peak loop for tier %v", t)
	}
	if t == Generic {
		peakSink.Store(math.Float32bits(peakGo(n, math.Float32frombits(peakSink.Load()), 1)))
		return f * float64(n), nil
	}
	peakArch(t, n)
	return f * float64(n), nil
}

// peakSink keeps the generic loop's result live (atomic: MeasurePeak runs
// the loop on several goroutines at once).
var peakSink atomic.Uint32

// peakGo is the generic tier's loop: 12 independent chains a = a·x + y
// (2 FLOP each; whether the compiler fuses them or not). x and y come in
// as arguments so that nothing is folded at compile time.
func peakGo(n int, x, y float32) float32 {
	var a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 float32
	for range n {
		a0 = a0*x + y
		a1 = a1*x + y
		a2 = a2*x + y
		a3 = a3*x + y
		a4 = a4*x + y
		a5 = a5*x + y
		a6 = a6*x + y
		a7 = a7*x + y
		a8 = a8*x + y
		a9 = a9*x + y
		a10 = a10*x + y
		a11 = a11*x + y
	}
	return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
}

// MeasurePeak measures tier t's arithmetic peak in FLOP/s over threads
// cores: threads goroutines, each locked to its own OS thread, run
// PeakLoop at the same time for about d; the best of trials runs is kept
// (a run shares the cores with whatever else the machine does, so the
// best is the closest to the hardware's limit).
func MeasurePeak(t Tier, threads int, d time.Duration, trials int) (float64, error) {
	if threads < 1 || trials < 1 {
		return 0, fmt.Errorf("asm: MeasurePeak with %d threads, %d trials", threads, trials)
	}
	// Calibrate the iterations of one run on one thread.
	n := 1 << 12
	for {
		t0 := time.Now()
		if _, err := PeakLoop(t, n); err != nil {
			return 0, err
		}
		if el := time.Since(t0); el >= d/8 || n >= 1<<40 {
			n = int(float64(n) * float64(d) / float64(max(el, time.Microsecond)))
			break
		}
		n *= 4
	}
	n = max(n, 1)
	best := 0.0
	for range trials {
		var wg sync.WaitGroup
		start := make(chan struct{})
		secs := make([]float64, threads)
		for i := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-start
				t0 := time.Now()
				PeakLoop(t, n)
				secs[i] = time.Since(t0).Seconds()
			}()
		}
		close(start)
		wg.Wait()
		// Each thread's rate, summed: a thread that started late still
		// counts its own loop at its own speed.
		rate := 0.0
		for _, s := range secs {
			rate += PeakFLOPPerIter(t) * float64(n) / s
		}
		best = max(best, rate)
	}
	return best, nil
}
