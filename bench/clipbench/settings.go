package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gocoop/gocoop/asm"
)

// goSetting names a GoCoOp thread setting.
func goSetting(procs int) string { return "GOMAXPROCS=" + strconv.Itoa(procs) }

// goProcs is goSetting's inverse.
func goProcs(s string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(s, "GOMAXPROCS="))
	return max(n, 1)
}

// pySetting names a PyTorch thread setting: torch.set_num_threads and
// OpenBLAS's threads.
func pySetting(th [2]int) string { return fmt.Sprintf("torch %d × OpenBLAS %d", th[0], th[1]) }

// pyThreadsOf is pySetting's inverse.
func pyThreadsOf(s string) [2]int {
	var th [2]int
	fmt.Sscanf(s, "torch %d × OpenBLAS %d", &th[0], &th[1])
	return [2]int{max(th[0], 1), max(th[1], 1)}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parsePairs parses "1x1,1x2": torch threads x OpenBLAS threads.
func parsePairs(s string) ([][2]int, error) {
	var out [][2]int
	for _, f := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(f), "x")
		x, err1 := strconv.Atoi(a)
		y, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || x < 1 || y < 1 {
			return nil, fmt.Errorf("%q is not TORCHxBLAS (e.g. 1x2)", f)
		}
		out = append(out, [2]int{x, y})
	}
	return out, nil
}

// pyEnv is the PyTorch worker's environment for a thread setting: torch's
// own threads come from --threads (torch.set_num_threads, which also sets
// OpenMP's), OpenBLAS's from OPENBLAS_NUM_THREADS (Debian's pthread build).
func pyEnv(o options, th [2]int) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_") && !strings.HasPrefix(e, "OMP_") && !strings.HasPrefix(e, "MKL_") {
			env = append(env, e)
		}
	}
	env = append(env, "OPENBLAS_NUM_THREADS="+strconv.Itoa(th[1]), "OMP_NUM_THREADS="+strconv.Itoa(th[0]), "MKL_NUM_THREADS="+strconv.Itoa(th[1]))
	if o.coretype != "" {
		env = append(env, "OPENBLAS_CORETYPE="+o.coretype)
	}
	return env
}

// PeakInfo is the machine's peak as measured by asm.MeasurePeak on the
// sgemm kernels' tier.
type PeakInfo struct {
	Tier     string  `json:"tier"`
	Cores    int     `json:"cores"`
	Together float64 `json:"together_gflops"`    // -cores threads at once
	OneCore  float64 `json:"one_core_gflops"`    // one thread
	GFLOPS   float64 `json:"gflops"`             // max(Together, OneCore × cores)
	Override float64 `json:"override,omitempty"` // -peak × cores, when given
	Err      string  `json:"error,omitempty"`
}

// measurePeak times the current tier's FMA loop: cores threads at once,
// and one thread (times cores). On a shared machine the first is lowered
// by whoever else runs; the higher of the two is kept, so that the
// "% of peak" figures are not flattered.
func measurePeak(cores int) PeakInfo {
	t := asm.CurrentTier()
	p := PeakInfo{Tier: t.String(), Cores: cores}
	var err error
	if p.Together, err = asm.MeasurePeak(t, cores, 200*time.Millisecond, 5); err != nil {
		p.Err = err.Error()
		return p
	}
	p.OneCore, _ = asm.MeasurePeak(t, 1, 200*time.Millisecond, 5)
	p.Together /= 1e9
	p.OneCore /= 1e9
	p.GFLOPS = max(p.Together, p.OneCore*float64(cores))
	return p
}

// merge keeps the higher of two measurements.
func (p *PeakInfo) merge(q PeakInfo) {
	p.Together = max(p.Together, q.Together)
	p.OneCore = max(p.OneCore, q.OneCore)
	p.GFLOPS = max(p.GFLOPS, q.GFLOPS)
}

func (rep *Report) peakNote() string {
	p := rep.Peak
	if p.Override > 0 {
		return fmt.Sprintf("%.0f GFLOP/s (-peak, %d cores; measured %.0f)", p.Override, rep.Cores, p.GFLOPS)
	}
	if p.Err != "" {
		return "not measured: " + p.Err + " (give -peak)"
	}
	return fmt.Sprintf("%.0f GFLOP/s measured (%s FMA loop, asm.MeasurePeak: %d threads at once %.0f, one thread %.0f × %d; best at start and end)",
		p.GFLOPS, p.Tier, p.Cores, p.Together, p.OneCore, p.Cores)
}
