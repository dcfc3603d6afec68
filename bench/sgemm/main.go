// Command sgemm compares GoCoOp's sgemm with OpenBLAS (through numpy) on
// the CLIP shapes, on 1 and 2 cores, in one run.
//
// For each core count and shape it alternates the two sides several times
// (to spread machine noise over both) and keeps each side's best GFLOP/s.
// OpenBLAS runs in long-lived /usr/bin/python3 processes (one per thread
// count) with OPENBLAS_CORETYPE=SkylakeX (flag -coretype), OPENBLAS_NUM_THREADS=<cores>
// and every other OPENBLAS_* variable (OPENBLAS_L2_SIZE) unset. If numpy is
// missing only GoCoOp is timed.
//
//	go run ./bench/sgemm [-cores 1,2] [-tiers avx512,avx2] [-rounds 3] [-time 0.3] [-json out.json]
//	go run ./bench/sgemm -tiers avx2 -coretype Haswell   # AVX2 tier vs OpenBLAS's AVX2 kernel
//	go run ./bench/sgemm -transb                         # x·Wᵀ, as CLIP's linear layers call it
package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gocoop/gocoop/asm"
)

//go:embed openblas_sgemm.py
var pyScript string

type shape struct{ M, K, N int }

func (s shape) String() string { return fmt.Sprintf("%d×%d×%d", s.M, s.K, s.N) }

var clipShapes = []shape{
	{197, 768, 2304}, {197, 768, 768}, {197, 768, 3072}, {197, 3072, 768},
	{1024, 512, 1536}, {1024, 1024, 1024}, {2048, 2048, 2048},
}

// Result is one JSON record: best GFLOP/s of each side for a shape, tier
// and core count.
type Result struct {
	Shape    string  `json:"shape"`
	M        int     `json:"m"`
	K        int     `json:"k"`
	N        int     `json:"n"`
	Cores    int     `json:"cores"`
	Tier     string  `json:"tier"`
	GoCoOp   float64 `json:"gocoop_gflops"`
	OpenBLAS float64 `json:"openblas_gflops,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	TransB   bool    `json:"trans_b"`
}

func main() {
	coresFlag := flag.String("cores", "1,2", "core counts (GOMAXPROCS / OPENBLAS_NUM_THREADS)")
	tiersFlag := flag.String("tiers", "avx512", "GoCoOp tiers to time, comma-separated (avx512, avx2, generic)")
	rounds := flag.Int("rounds", 3, "alternations of GoCoOp and OpenBLAS per shape")
	budget := flag.Float64("time", 0.3, "seconds per side per round")
	jsonPath := flag.String("json", "", "write results as JSON to this file")
	python := flag.String("python", "/usr/bin/python3", "python with numpy")
	coretype := flag.String("coretype", "SkylakeX", "OPENBLAS_CORETYPE (SkylakeX for the AVX-512 kernel, Haswell for AVX2)")
	shapesFlag := flag.String("shapes", "", "shapes MxKxN,... (default: the 7 CLIP shapes)")
	transB := flag.Bool("transb", false, "time C = A·Bᵀ with B stored N×K (CLIP's x·Wᵀ) on both sides")
	flag.Parse()

	shapes := clipShapes
	if *shapesFlag != "" {
		shapes = nil
		for _, f := range strings.Split(*shapesFlag, ",") {
			var s shape
			if _, err := fmt.Sscanf(strings.ReplaceAll(f, "×", "x"), "%dx%dx%d", &s.M, &s.K, &s.N); err != nil {
				fatalf("bad shape %q: %v", f, err)
			}
			shapes = append(shapes, s)
		}
	}
	var cores []int
	for _, f := range strings.Split(*coresFlag, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fatalf("bad -cores %q", *coresFlag)
		}
		cores = append(cores, c)
	}
	var tiers []asm.Tier
	for _, f := range strings.Split(*tiersFlag, ",") {
		found := false
		for _, t := range asm.SupportedTiers() {
			if t.String() == strings.TrimSpace(f) {
				tiers, found = append(tiers, t), true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "tier %q not supported here (supported: %v); skipped\n", f, asm.SupportedTiers())
		}
	}
	if len(tiers) == 0 {
		fatalf("no tier to time")
	}

	blas := map[int]*openBLAS{}
	for _, c := range cores {
		ob, err := startOpenBLAS(*python, *coretype, c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "OpenBLAS via %s unavailable (%v): showing GoCoOp only.\n"+
				"Install with: apt-get install -y python3-numpy libopenblas0-pthread\n", *python, err)
			blas = nil
			break
		}
		defer ob.close()
		blas[c] = ob
		if c == cores[0] {
			fmt.Printf("OpenBLAS: %s\n", ob.info)
		}
	}
	op := "C = A·B"
	if *transB {
		op = "C = A·Bᵀ (B stored N×K)"
	}
	fmt.Printf("GoCoOp: tiers %v, %s/%s, %d CPUs; %s; %d rounds × %.2fs per side, best kept\n\n",
		tiers, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), op, *rounds, *budget)

	var results []Result
	for _, c := range cores {
		for _, s := range shapes {
			best := map[asm.Tier]float64{}
			var bestB float64
			for r := 0; r < *rounds; r++ {
				for _, t := range tiers {
					best[t] = max(best[t], timeGo(s, t, c, *budget, *transB))
				}
				if blas != nil {
					time.Sleep(50 * time.Millisecond)
					g, err := blas[c].time(s, *budget, *transB)
					if err != nil {
						fatalf("OpenBLAS: %v", err)
					}
					bestB = max(bestB, g)
					time.Sleep(200 * time.Millisecond) // let OpenBLAS threads stop spinning
				}
			}
			for _, t := range tiers {
				res := Result{Shape: s.String(), M: s.M, K: s.K, N: s.N, Cores: c, Tier: t.String(), GoCoOp: best[t], OpenBLAS: bestB, TransB: *transB}
				if bestB > 0 {
					res.Ratio = best[t] / bestB
				}
				results = append(results, res)
			}
			fmt.Fprintf(os.Stderr, "  %dc %-16v done\n", c, s)
		}
	}
	printTable(os.Stdout, results, shapes, cores, tiers, blas != nil)
	if *jsonPath != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonPath, append(data, '\n'), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func printTable(w io.Writer, results []Result, shapes []shape, cores []int, tiers []asm.Tier, withBLAS bool) {
	get := func(s shape, c int, t asm.Tier) Result {
		for _, r := range results {
			if r.M == s.M && r.K == s.K && r.N == s.N && r.Cores == c && r.Tier == t.String() {
				return r
			}
		}
		return Result{}
	}
	hdr, sep := "| shape M×K×N |", "|---|"
	for _, c := range cores {
		for i, t := range tiers {
			name := "GoCoOp"
			if len(tiers) > 1 || t != asm.AVX512 {
				name += " " + t.String()
			}
			hdr += fmt.Sprintf(" %s %dc |", name, c)
			sep += "---:|"
			if withBLAS && i == len(tiers)-1 {
				hdr += fmt.Sprintf(" OpenBLAS %dc |", c)
				sep += "---:|"
				for _, t := range tiers {
					if len(tiers) > 1 {
						hdr += fmt.Sprintf(" ratio %s |", t)
					} else {
						hdr += " ratio |"
					}
					sep += "---:|"
				}
			}
		}
	}
	fmt.Fprintln(w, hdr)
	fmt.Fprintln(w, sep)
	for _, s := range shapes {
		line := "| " + s.String() + " |"
		for _, c := range cores {
			for _, t := range tiers {
				line += fmt.Sprintf(" %.1f |", get(s, c, t).GoCoOp)
			}
			if withBLAS {
				line += fmt.Sprintf(" %.1f |", get(s, c, tiers[0]).OpenBLAS)
				for _, t := range tiers {
					line += fmt.Sprintf(" %.2f |", get(s, c, t).Ratio)
				}
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "\nGFLOP/s = 2·M·K·N / time (best of the rounds); ratio = GoCoOp / OpenBLAS.")
}

var goData = map[shape][3][]float32{}

// timeGo returns GoCoOp's best GFLOP/s for s on tier t with GOMAXPROCS c.
func timeGo(s shape, t asm.Tier, cores int, budget float64, transB bool) float64 {
	d, ok := goData[s]
	if !ok {
		r := rand.New(rand.NewPCG(1, 2))
		mk := func(n int) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			return x
		}
		d = [3][]float32{mk(s.M * s.K), mk(s.K * s.N), make([]float32, s.M*s.N)}
		goData[s] = d
	}
	old := runtime.GOMAXPROCS(cores)
	defer runtime.GOMAXPROCS(old)
	prev := asm.CurrentTier()
	if err := asm.SetTier(t); err != nil {
		fatalf("%v", err)
	}
	defer asm.SetTier(prev)
	ldb := s.N
	if transB {
		ldb = s.K
	}
	run := func() { asm.Sgemm(false, transB, s.M, s.N, s.K, 1, d[0], s.K, d[1], ldb, 0, d[2], s.N) }
	run()
	t0 := time.Now()
	run()
	one := time.Since(t0).Seconds()
	reps := max(1, int(0.05/max(one, 1e-9)))
	best := 1e300
	deadline := time.Now().Add(time.Duration(budget * float64(time.Second)))
	for {
		t0 := time.Now()
		for i := 0; i < reps; i++ {
			run()
		}
		best = min(best, time.Since(t0).Seconds()/float64(reps))
		if time.Now().After(deadline) {
			break
		}
	}
	return 2 * float64(s.M) * float64(s.K) * float64(s.N) / best / 1e9
}

// openBLAS is a running openblas_sgemm.py process.
type openBLAS struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	info string
}

func startOpenBLAS(python, coretype string, threads int) (*openBLAS, error) {
	f, err := os.CreateTemp("", "openblas_sgemm*.py")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(pyScript); err != nil {
		return nil, err
	}
	f.Close()
	src, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, "-c", string(src))
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_") && !strings.HasPrefix(e, "OMP_NUM_THREADS=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "OPENBLAS_CORETYPE="+coretype, "OPENBLAS_NUM_THREADS="+strconv.Itoa(threads), "OMP_NUM_THREADS="+strconv.Itoa(threads))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ob := &openBLAS{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	if !ob.out.Scan() || !strings.HasPrefix(ob.out.Text(), "ready") {
		ob.close()
		return nil, fmt.Errorf("python did not start (is numpy installed?)")
	}
	ob.info = fmt.Sprintf("%d thread(s): numpy/OpenBLAS %s", threads, strings.TrimPrefix(ob.out.Text(), "ready "))
	return ob, nil
}

func (o *openBLAS) time(s shape, budget float64, transB bool) (float64, error) {
	t := "N"
	if transB {
		t = "T"
	}
	if _, err := fmt.Fprintf(o.in, "%d %d %d %g %s\n", s.M, s.K, s.N, budget, t); err != nil {
		return 0, err
	}
	if !o.out.Scan() {
		return 0, fmt.Errorf("no answer for %v", s)
	}
	return strconv.ParseFloat(strings.TrimSpace(o.out.Text()), 64)
}

func (o *openBLAS) close() {
	fmt.Fprintln(o.in, "quit")
	o.in.Close()
	o.cmd.Wait()
}

func fatalf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "sgemm bench: "+f+"\n", args...)
	os.Exit(1)
}
