// Command clipbench runs GoCoOp and the repository's PyTorch reference
// (bench/reference: clip_ref.py, cocoop_ref.py, driven by bench_torch.py)
// side by side, in one run on the same machine:
//
//   - sgemm at the 7 CLIP ViT-B/16 shapes (asm.Sgemm vs torch.mm, i.e.
//     OpenBLAS through torch);
//   - ViT-B/16 image forward at batch 1 and 8;
//   - the text tower on 50 prompts × 77 tokens, and GoCoOp's exact shortcut
//     (shared prefix computed once, no position after an EOT);
//   - a CoCoOp training step (forward, backward, SGD) and an evaluation
//     step at batch 1 over 50 classes, and a training step at batch 8, with
//     GoCoOp's exact text-tower shortcut on and off (clip.TextTransformer.FullPrompts:
//     the official 77-token prompts, which is what PyTorch runs).
//
// Both sides use random weights (GoCoOp: clip.NewHashCLIP; PyTorch: its own
// random init, timing does not depend on the values), the same 50 class
// names (ClassNames, tokenized here and handed to Python), "a photo of a"
// (n_ctx 4) and the same images shape. Each side runs every workload in a
// process of its own (Go: this binary re-executed with -worker), so the
// peak RSS of that process (getrusage ru_maxrss of the child, read the same
// way for both sides) is the workload's alone. The sides alternate (Go, Py,
// Go, Py, ...) for -rounds rounds; each process warms up then times -reps
// repetitions, and the best time is kept.
//
//	go run ./bench/clipbench [-tasks sgemm,image,text,train,eval,train8] [-cores 2] [-quick] [-json out.json]
//	go run ./bench/clipbench -cost                  # the cost model for the 50 classes
//	go run ./bench/clipbench -tasks train -quick -nopy -cpuprofile /tmp/prof   # pprof per Go workload
//	go run ./bench/clipbench -profsummary /tmp/prof.train-b1-shortcut.pprof     # by op
//
// If /usr/bin/python3 or its torch is missing the PyTorch column is skipped
// with a message. Ratios are PyTorch time / GoCoOp time (> 1: GoCoOp
// faster) and PyTorch RSS / GoCoOp RSS.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record is one row of the JSON output.
type Record struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Group  string `json:"group"`
	Batch  int    `json:"batch,omitempty"`
	PyNote string `json:"py_note,omitempty"`

	GoSeconds float64 `json:"gocoop_s"`
	PySeconds float64 `json:"pytorch_s,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"` // PyTorch / GoCoOp time

	GoFLOPs   float64 `json:"gocoop_flop"`
	PyFLOPs   float64 `json:"pytorch_flop,omitempty"`
	GoGFLOPS  float64 `json:"gocoop_gflops"`
	GoPeakPct float64 `json:"gocoop_peak_pct"`
	PyGFLOPS  float64 `json:"pytorch_gflops,omitempty"`

	GoRSS    int64   `json:"gocoop_peak_rss_bytes,omitempty"`
	PyRSS    int64   `json:"pytorch_peak_rss_bytes,omitempty"`
	RSSRatio float64 `json:"rss_ratio,omitempty"` // PyTorch / GoCoOp

	GoTimes []float64 `json:"gocoop_times,omitempty"`
	PyTimes []float64 `json:"pytorch_times,omitempty"`
	GoSetup float64   `json:"gocoop_setup_s,omitempty"`
	PySetup float64   `json:"pytorch_setup_s,omitempty"`
}

// Report is the JSON document.
type Report struct {
	Date        string   `json:"date"`
	Cores       int      `json:"cores"`
	NumCPU      int      `json:"num_cpu"`
	PeakGFLOPS  float64  `json:"peak_gflops"`
	LoadAvg     string   `json:"loadavg_at_start"`
	Torch       string   `json:"pytorch,omitempty"`
	PySkipped   string   `json:"pytorch_skipped,omitempty"`
	Shortcut    string   `json:"shortcut"`
	ClassNames  []string `json:"class_names"`
	EOT         []int    `json:"eot_positions"`
	Rounds      int      `json:"rounds"`
	Records     []Record `json:"records"`
	Diagnostics []string `json:"notes,omitempty"`
}

type options struct {
	cores      int
	rounds     int
	quick      bool
	python     string
	script     string
	coretype   string
	peak       float64
	cpuprofile string
	memprofile string
	nopy       bool
	timeout    time.Duration
}

func main() {
	var wa workerArgs
	flag.StringVar(&wa.Task, "worker", "", "internal: run one workload in this process")
	flag.StringVar(&wa.Variant, "variant", "", "internal: worker variant")
	flag.IntVar(&wa.Batch, "batch", 1, "internal: worker batch")
	flag.IntVar(&wa.Warmup, "warmup", 1, "internal: worker warm-up calls")
	flag.IntVar(&wa.Reps, "reps", 0, "timed repetitions per process (0: per workload default)")
	flag.Float64Var(&wa.SgemmTime, "sgemm-time", 0.3, "seconds per sgemm shape per process")

	var o options
	tasks := flag.String("tasks", "all", "comma-separated workloads: "+strings.Join(Groups, ","))
	flag.IntVar(&o.cores, "cores", 2, "cores for both sides (GOMAXPROCS; torch.set_num_threads, OPENBLAS/OMP_NUM_THREADS)")
	flag.IntVar(&o.rounds, "rounds", 2, "alternations Go, PyTorch per workload (best time kept)")
	flag.BoolVar(&o.quick, "quick", false, "short run: 1 round, 1 repetition, short sgemm timing")
	jsonPath := flag.String("json", "", "write the records as JSON to this file")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "python with torch (Debian's python3-torch)")
	flag.StringVar(&o.coretype, "coretype", "SkylakeX", "OPENBLAS_CORETYPE for PyTorch's OpenBLAS (\"\": autodetect)")
	flag.Float64Var(&o.peak, "peak", 220, "peak GFLOP/s per core (AVX-512: 2 FMA/cycle × 16 lanes × 2 FLOP × ~3.4 GHz)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each Go workload's timed repetitions to PREFIX.<id>.pprof")
	flag.StringVar(&o.memprofile, "memprofile", "", "write a heap profile of each Go workload to PREFIX.<id>.pprof: allocations of its timed repetitions (alloc_space) and what is live after them (inuse_space)")
	flag.BoolVar(&o.nopy, "nopy", false, "GoCoOp only")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "limit per worker process")
	cost := flag.Bool("cost", false, "print the cost model for the 50 classes and exit")
	profSummary := flag.String("profsummary", "", "summarize a -cpuprofile file by op (sgemm, attention, layer norm, ...) and exit")
	flag.Parse()

	if wa.Task != "" {
		wa.Cores = o.cores
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "cpuprofile" {
				wa.CPUProfile = o.cpuprofile
			}
			if f.Name == "memprofile" {
				wa.MemProfile = o.memprofile
			}
		})
		if err := runWorker(wa); err != nil {
			fmt.Fprintln(os.Stderr, "clipbench worker:", err)
			os.Exit(1)
		}
		return
	}
	if *profSummary != "" {
		for _, p := range append([]string{*profSummary}, flag.Args()...) {
			if err := summarizeProfile(os.Stdout, p); err != nil {
				fatalf("%v", err)
			}
			fmt.Println()
		}
		return
	}
	if *cost {
		if err := printCost(os.Stdout); err != nil {
			fatalf("%v", err)
		}
		return
	}
	groups, err := groupSet(*tasks)
	if err != nil {
		fatalf("%v", err)
	}
	if o.quick {
		o.rounds = 1
		wa.SgemmTime = 0.1
	}
	rep, err := run(o, groups, wa)
	if err != nil {
		fatalf("%v", err)
	}
	printTable(os.Stdout, rep)
	if *jsonPath != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonPath, append(data, '\n'), 0o644); err != nil {
			fatalf("%v", err)
		}
		fmt.Printf("\nwrote %s\n", *jsonPath)
	}
}

// reps returns the warm-up and timed repetitions per process of a workload.
func reps(group string, batch int, quick bool, override int) (warm, n int) {
	warm, n = 1, 3
	switch {
	case group == "image" && batch == 1:
		n = 5
	case group == "image":
		n = 2
	case group == "train8":
		n = 1
	}
	if quick {
		n = 1
	}
	if override > 0 {
		n = override
	}
	return warm, n
}

// side is one worker run's outcome.
type side struct {
	res WorkerResult
	rss int64 // bytes
}

func run(o options, groups map[string]bool, wa workerArgs) (*Report, error) {
	texts, ids, err := Prompts(ClassNames)
	if err != nil {
		return nil, err
	}
	_ = texts
	eot, _ := EOTs(ClassNames)
	rep := &Report{
		Date: time.Now().Format(time.RFC3339), Cores: o.cores, NumCPU: runtime.NumCPU(),
		PeakGFLOPS: o.peak * float64(o.cores), LoadAvg: loadAvg(), ClassNames: ClassNames, EOT: eot, Rounds: o.rounds,
		Shortcut: shortcutNote(),
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// PyTorch side.
	py := !o.nopy
	var tokFile string
	if o.nopy {
		rep.PySkipped = "PyTorch column skipped: -nopy"
	} else if o.script, err = findScript(); err != nil {
		rep.PySkipped = "PyTorch column skipped: " + err.Error()
		py = false
	} else if v, err := torchVersion(o); err != nil {
		rep.PySkipped = fmt.Sprintf("PyTorch column skipped: %s cannot import torch (%v); install Debian's python3-torch", o.python, err)
		py = false
	} else {
		rep.Torch = v
		f, err := os.CreateTemp("", "clipbench-tokens-*.json")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		json.NewEncoder(f).Encode(map[string]any{"ids": ids, "eot": eot, "names": ClassNames, "n_ctx": NCtx})
		f.Close()
		tokFile = f.Name()
	}
	if rep.PySkipped != "" {
		fmt.Println(rep.PySkipped)
	}
	fmt.Printf("GoCoOp vs %s; %d cores of %d CPUs (load average at start %s); peak %.0f GFLOP/s = %.0f/core × %d (assumed, flag -peak)\n",
		orNone(rep.Torch, "no PyTorch"), o.cores, runtime.NumCPU(), rep.LoadAvg, rep.PeakGFLOPS, o.peak, o.cores)
	fmt.Printf("shortcut: %s\n\n", rep.Shortcut)

	goRun := func(id, task, variant string, batch, warm, n int) (side, error) {
		args := []string{"-worker", task, "-variant", variant, "-batch", strconv.Itoa(batch),
			"-warmup", strconv.Itoa(warm), "-reps", strconv.Itoa(n), "-cores", strconv.Itoa(o.cores),
			"-sgemm-time", fmt.Sprint(wa.SgemmTime)}
		if o.memprofile != "" {
			args = append(args, "-memprofile", o.memprofile+"."+strings.ReplaceAll(id, "/", "-")+".pprof")
		}
		if o.cpuprofile != "" {
			args = append(args, "-cpuprofile", o.cpuprofile+"."+strings.ReplaceAll(id, "/", "-")+".pprof")
		}
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(o.cores))
		return runChild(cmd, o.timeout)
	}
	pyRun := func(task string, batch, warm, n int) (side, error) {
		args := []string{o.script, "--task", task, "--batch", strconv.Itoa(batch), "--warmup", strconv.Itoa(warm),
			"--reps", strconv.Itoa(n), "--threads", strconv.Itoa(o.cores), "--tokens", tokFile,
			"--sgemm-time", fmt.Sprint(wa.SgemmTime)}
		cmd := exec.Command(o.python, args...)
		cmd.Env = pyEnv(o)
		return runChild(cmd, o.timeout)
	}

	// sgemm: one process per side and round for all shapes.
	if groups["sgemm"] {
		goBest, pyBest := map[string]float64{}, map[string]float64{}
		for r := range o.rounds {
			fmt.Fprintf(os.Stderr, "sgemm round %d: GoCoOp\n", r+1)
			g, err := goRun("sgemm", "sgemm", "", 1, 1, 1)
			if err != nil {
				return nil, fmt.Errorf("GoCoOp sgemm: %w", err)
			}
			mergeBest(goBest, g.res.Shapes)
			if py {
				fmt.Fprintf(os.Stderr, "sgemm round %d: PyTorch\n", r+1)
				p, err := pyRun("sgemm", 1, 1, 1)
				if err != nil {
					rep.Diagnostics = append(rep.Diagnostics, "PyTorch sgemm failed: "+err.Error())
				} else {
					mergeBest(pyBest, p.res.Shapes)
				}
			}
		}
		for _, s := range sgemmShapes {
			name := shapeName(s)
			f := SgemmFLOPs(s[0], s[1], s[2])
			rec := Record{ID: "sgemm/" + name, Label: "sgemm " + name, Group: "sgemm", GoSeconds: goBest[name], GoFLOPs: f}
			if t := pyBest[name]; t > 0 {
				rec.PySeconds, rec.PyFLOPs = t, f
			}
			rep.Records = append(rep.Records, finish(rec, rep.PeakGFLOPS))
		}
	}

	// Model workloads, group by group.
	for _, g := range Groups[1:] {
		if !groups[g] {
			continue
		}
		var ws []Workload
		for _, w := range Workloads() {
			if w.Group == g {
				ws = append(ws, w)
			}
		}
		goSides := map[string][]side{}
		pySides := map[string][]side{}
		pyFailed := map[string]bool{}
		pyKey := func(w Workload) string { return fmt.Sprintf("%s-b%d", w.PyTask, w.Batch) }
		for r := range o.rounds {
			for _, w := range ws {
				warm, n := reps(g, w.Batch, o.quick, wa.Reps)
				if w.GoTask != "" {
					fmt.Fprintf(os.Stderr, "%s round %d: GoCoOp\n", w.ID, r+1)
					s, err := goRun(w.ID, w.GoTask, w.GoVariant, w.Batch, warm, n)
					if err != nil {
						return nil, fmt.Errorf("GoCoOp %s: %w", w.ID, err)
					}
					goSides[w.ID] = append(goSides[w.ID], s)
				}
				k := pyKey(w)
				if py && w.PyTask != "" && len(pySides[k]) == r && !pyFailed[k] {
					fmt.Fprintf(os.Stderr, "%s round %d: PyTorch\n", k, r+1)
					s, err := pyRun(w.PyTask, w.Batch, warm, n)
					if err != nil {
						pyFailed[k] = true
						rep.Diagnostics = append(rep.Diagnostics, fmt.Sprintf("PyTorch %s failed: %v", k, err))
						fmt.Fprintf(os.Stderr, "PyTorch %s failed: %v\n", k, err)
						continue
					}
					pySides[k] = append(pySides[k], s)
				}
			}
		}
		for _, w := range ws {
			rec := Record{ID: w.ID, Label: w.Label, Group: g, Batch: w.Batch, PyNote: w.PyNote, GoFLOPs: w.FLOPs(eot)}
			rec.GoSeconds, rec.GoRSS, rec.GoTimes, rec.GoSetup = best(goSides[w.ID])
			if ps := pySides[pyKey(w)]; len(ps) > 0 {
				rec.PySeconds, rec.PyRSS, rec.PyTimes, rec.PySetup = best(ps)
				rec.PyFLOPs = rec.GoFLOPs
				if w.PyFLOPs != nil {
					rec.PyFLOPs = w.PyFLOPs(eot)
				}
			}
			rep.Records = append(rep.Records, finish(rec, rep.PeakGFLOPS))
		}
	}
	return rep, nil
}

func finish(r Record, peak float64) Record {
	if r.GoSeconds > 0 {
		r.GoGFLOPS = r.GoFLOPs / r.GoSeconds / 1e9
		r.GoPeakPct = 100 * r.GoGFLOPS / peak
	}
	if r.PySeconds > 0 {
		r.PyGFLOPS = r.PyFLOPs / r.PySeconds / 1e9
		if r.GoSeconds > 0 {
			r.Ratio = r.PySeconds / r.GoSeconds
		}
	}
	if r.GoRSS > 0 && r.PyRSS > 0 {
		r.RSSRatio = float64(r.PyRSS) / float64(r.GoRSS)
	}
	return r
}

// best returns the best time, the largest peak RSS, all times and the
// smallest setup time over the runs of one side.
func best(ss []side) (t float64, rss int64, times []float64, setup float64) {
	t, setup = math.Inf(1), math.Inf(1)
	for _, s := range ss {
		for _, x := range s.res.Times {
			t = min(t, x)
		}
		times = append(times, s.res.Times...)
		rss = max(rss, s.rss)
		setup = min(setup, s.res.Setup)
	}
	if math.IsInf(t, 1) {
		t = 0
	}
	if math.IsInf(setup, 1) {
		setup = 0
	}
	return
}

func mergeBest(dst, src map[string]float64) {
	for k, v := range src {
		if old, ok := dst[k]; !ok || v < old {
			dst[k] = v
		}
	}
}

// runChild runs a worker process and returns its result line and its peak
// RSS (ru_maxrss of the reaped child, KiB on Linux).
func runChild(cmd *exec.Cmd, timeout time.Duration) (side, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = cmd.Env
	var out bytes.Buffer
	c.Stdout = &out
	c.Stderr = os.Stderr
	err := c.Run()
	var s side
	if c.ProcessState != nil {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.rss = int64(ru.Maxrss) * 1024
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return s, fmt.Errorf("timed out after %v", timeout)
		}
		return s, fmt.Errorf("%v: %w", strings.Join(cmd.Args, " "), err)
	}
	var line string
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "RESULT ") {
			line = strings.TrimPrefix(sc.Text(), "RESULT ")
		}
	}
	if line == "" {
		return s, errors.New("no RESULT line in the worker's output")
	}
	if err := json.Unmarshal([]byte(line), &s.res); err != nil {
		return s, fmt.Errorf("worker result: %w", err)
	}
	return s, nil
}

// findScript locates bench/reference/bench_torch.py from the working
// directory or its parents (go run from anywhere inside the module).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "bench", "reference", "bench_torch.py")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench/reference/bench_torch.py not found (run from inside the repository)")
		}
		dir = parent
	}
}

func pyEnv(o options) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OPENBLAS_") && !strings.HasPrefix(e, "OMP_") && !strings.HasPrefix(e, "MKL_") {
			env = append(env, e)
		}
	}
	n := strconv.Itoa(o.cores)
	env = append(env, "OPENBLAS_NUM_THREADS="+n, "OMP_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	if o.coretype != "" {
		env = append(env, "OPENBLAS_CORETYPE="+o.coretype)
	}
	return env
}

func torchVersion(o options) (string, error) {
	if _, err := os.Stat(o.python); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.python, o.script, "--version")
	cmd.Env = pyEnv(o)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
			return "", errors.New(lines[len(lines)-1])
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func shortcutNote() string {
	return "on = cocoop default (clip.EncodeTextShared: prefix once per image, nothing past each EOT); " +
		"off = clip.TextTransformer.FullPrompts (every prompt at 77 tokens, as the official code and the PyTorch side)"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func fmtTime(s float64) string {
	switch {
	case s <= 0:
		return "—"
	case s < 0.01:
		return fmt.Sprintf("%.2f ms", s*1e3)
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1e3)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func fmtRSS(b int64) string {
	if b <= 0 {
		return "—"
	}
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func fmtRatio(r float64) string {
	if r <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

func printTable(w io.Writer, rep *Report) {
	fmt.Fprintln(w, "| workload | GoCoOp | PyTorch | ratio | GoCoOp GFLOP/s (% peak) | PyTorch GFLOP/s | peak RSS GoCoOp | peak RSS PyTorch | RSS ratio |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Records {
		label := r.Label
		if r.PyNote != "" && r.PySeconds > 0 {
			label += " (PyTorch: " + r.PyNote + ")"
		}
		py := "—"
		if r.PyGFLOPS > 0 {
			py = fmt.Sprintf("%.1f", r.PyGFLOPS)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f (%.0f%%) | %s | %s | %s | %s |\n", label,
			fmtTime(r.GoSeconds), fmtTime(r.PySeconds), fmtRatio(r.Ratio), r.GoGFLOPS, r.GoPeakPct, py,
			fmtRSS(r.GoRSS), fmtRSS(r.PyRSS), fmtRatio(r.RSSRatio))
	}
	fmt.Fprintf(w, "\nBest of %d round(s); ratio = PyTorch time / GoCoOp time (> 1: GoCoOp faster); RSS ratio = PyTorch / GoCoOp peak RSS\n", rep.Rounds)
	fmt.Fprintf(w, "(each workload in its own process, weights included). GFLOP/s from the cost model (cost.go) of each side's own computation;\n")
	fmt.Fprintf(w, "peak %.0f GFLOP/s (%d cores, assumed). PyTorch: %s. Load average at start: %s.\n", rep.PeakGFLOPS, rep.Cores, orNone(rep.Torch, rep.PySkipped), rep.LoadAvg)
	for _, d := range rep.Diagnostics {
		fmt.Fprintln(w, "note:", d)
	}
	printTargets(w, rep)
}

// printTargets checks the targets against the measured ratios.
func printTargets(w io.Writer, rep *Report) {
	get := func(id string) (Record, bool) {
		for _, r := range rep.Records {
			if r.ID == id && r.Ratio > 0 {
				return r, true
			}
		}
		return Record{}, false
	}
	var lines []string
	check := func(ok bool, s string) {
		mark := "MISS"
		if ok {
			mark = "ok"
		}
		lines = append(lines, fmt.Sprintf("  [%s] %s", mark, s))
	}
	if r, ok := get("train-b1/shortcut"); ok {
		check(r.Ratio >= 10, fmt.Sprintf("training step b1, shortcut on: %.2f× PyTorch (target ≥ 10×)", r.Ratio))
		check(r.RSSRatio >= 4, fmt.Sprintf("training step b1, shortcut on: peak RSS 1/%.2f of PyTorch's (target ≤ 1/4)", r.RSSRatio))
	}
	if r, ok := get("train-b1/off"); ok {
		check(r.Ratio >= 1, fmt.Sprintf("training step b1, shortcut off (FullPrompts, 77 tokens): %.2f× PyTorch (target ≥ 1×)", r.Ratio))
	}
	for _, id := range []string{"image-b1", "image-b8"} {
		if r, ok := get(id); ok {
			check(r.Ratio >= 1, fmt.Sprintf("%s: %.2f× PyTorch (target ≥ 1×)", id, r.Ratio))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nTargets:")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// printCost prints the cost model of the benchmarked CoCoOp steps for the
// 50 classes (the worked example of docs/cost_model.md).
func printCost(w io.Writer) error {
	eot, err := EOTs(ClassNames)
	if err != nil {
		return err
	}
	texts, _, _ := Prompts(ClassNames)
	rep := costReport(eot)
	fmt.Fprintf(w, "50 class prompts (%q ... %q), EOT positions %v\n\n", texts[0], texts[len(texts)-1], eot)
	fmt.Fprint(w, rep)
	return nil
}

func fatalf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "clipbench: "+f+"\n", args...)
	os.Exit(1)
}
