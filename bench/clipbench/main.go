// Command clipbench runs GoCoOp and the repository's PyTorch reference
// (bench/reference: clip_ref.py, cocoop_ref.py, driven by bench_torch.py)
// side by side, in one run on the same machine, against the strongest
// honest baseline:
//
//   - sgemm at the 7 CLIP ViT-B/16 shapes (asm.Sgemm vs torch.mm, i.e.
//     OpenBLAS through torch);
//   - ViT-B/16 image forward at batch 1 and 8;
//   - the text tower on 50 prompts, at 77 tokens and with GoCoOp's exact
//     shortcut (shared prefix computed once, no position after an EOT);
//   - a CoCoOp training step (forward, backward, SGD) and an evaluation
//     step at batch 1 over 50 classes, an evaluation step over 1,000
//     classes (Names1000, ImageNet's class count), and a training step at
//     batch 8, with GoCoOp's shortcut on and off (clip.TextTransformer.FullPrompts:
//     the official 77-token prompts);
//   - a whole `cocoop base2new` run on a generated EuroSAT-size dataset
//     (b2n.go; GoCoOp only), wall time against its FLOP count.
//
// PyTorch runs each text workload twice: with the official 77-token
// prompts, and with every prompt cut after the longest EOT of the class
// list (bench_torch.py --cut: exact under the causal mask, a few lines).
// The ratio column compares GoCoOp with the faster of the two.
//
// Both sides use the same hash weights, images and meta-net (GoCoOp:
// clip.NewHashCLIP, clip.HashTensor; PyTorch: the same formula in
// clip_ref.py, bench_torch.py --hash), the same class prompts (tokenized
// here and handed to Python) and "a photo of a" (n_ctx 4). Each computes
// the loss of its first training step (the cross-entropy of the logits for
// evaluation); the run fails if GoCoOp's and PyTorch's differ by more than
// lossTol (float32 rounding).
//
// Each side runs every workload in a process of its own (Go: this binary
// re-executed with -worker), so the peak RSS of that process (getrusage
// ru_maxrss of the child, read the same way for both sides) is the
// workload's alone; it is reported net of each side's baseline too (a Go
// worker that loads nothing; a Python that imports torch and nothing else).
//
// Thread settings are searched per workload (-search): PyTorch over
// torch threads × OpenBLAS threads in -pythreads (default 1x1,1x2,2x1,2x2),
// GoCoOp over GOMAXPROCS in -gothreads (1,2); the first round runs every
// setting, later rounds the best one, and the best time is kept. Groups not
// searched run at the best setting of the same task at batch 1 (train8) or
// at -cores. The sides alternate (Go, PyTorch, Go, ...).
//
// The machine's peak is measured at run time (asm.MeasurePeak: the current
// tier's FMA-throughput loop on -cores threads at once, and on one thread
// times -cores; the higher is kept), at the start and at the end of the
// run; -peak overrides it.
//
//	go run ./bench/clipbench [-tasks sgemm,image,...] [-cores 2] [-quick] [-json out.json]
//	go run ./bench/clipbench -cost                  # the cost model for the 50 classes
//	go run ./bench/clipbench -tasks train -quick -nopy -cpuprofile /tmp/prof   # pprof per Go workload
//	go run ./bench/clipbench -profsummary /tmp/prof.train-b1-shortcut.pprof     # by op
//
// If /usr/bin/python3, its torch or an optimized BLAS under it is missing
// the PyTorch columns are skipped with a message. Ratios are PyTorch time /
// GoCoOp time (> 1: GoCoOp faster) and PyTorch RSS / GoCoOp RSS.
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

// Measure is one side's result on one workload: the best time over the
// settings tried, the setting that gave it, and that setting's peak RSS.
type Measure struct {
	Seconds float64 `json:"seconds"`
	Setting string  `json:"setting"`
	FLOPs   float64 `json:"flop"`
	GFLOPS  float64 `json:"gflops"`
	PeakPct float64 `json:"peak_pct"`
	RSS     int64   `json:"peak_rss_bytes"`
	RSSNet  int64   `json:"peak_rss_net_bytes"` // RSS − the side's baseline
	Loss    float64 `json:"loss,omitempty"`     // first training step's (eval: of the logits)
	Tokens  int     `json:"tokens,omitempty"`   // PyTorch --cut: the prompts' length
	Setup   float64 `json:"setup_s"`
	// Times are every timed repetition, by setting.
	Times map[string][]float64 `json:"times"`
}

// Record is one row of the table and of the JSON output.
type Record struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Group   string `json:"group"`
	Batch   int    `json:"batch,omitempty"`
	Classes int    `json:"classes,omitempty"`

	Go    *Measure `json:"gocoop,omitempty"`
	Py    *Measure `json:"pytorch,omitempty"`     // official 77-token prompts
	PyCut *Measure `json:"pytorch_cut,omitempty"` // prompts cut after the longest EOT

	// Ratio is the faster PyTorch's time / GoCoOp's (> 1: GoCoOp faster);
	// Against names it ("cut" or "official").
	Ratio   float64 `json:"ratio,omitempty"`
	Against string  `json:"against,omitempty"`
	// RSSRatio is that PyTorch's net peak RSS / GoCoOp's.
	RSSRatio float64 `json:"rss_net_ratio,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// Report is the JSON document.
type Report struct {
	Date        string     `json:"date"`
	Cores       int        `json:"cores"`
	NumCPU      int        `json:"num_cpu"`
	Peak        PeakInfo   `json:"peak"`
	PeakGFLOPS  float64    `json:"peak_gflops"` // used for % of peak
	LoadAvg     string     `json:"loadavg_at_start"`
	LoadAvgEnd  string     `json:"loadavg_at_end"`
	Torch       string     `json:"pytorch,omitempty"`
	PySkipped   string     `json:"pytorch_skipped,omitempty"`
	GoBaseRSS   int64      `json:"gocoop_baseline_rss_bytes,omitempty"`
	PyBaseRSS   int64      `json:"pytorch_baseline_rss_bytes,omitempty"`
	Shortcut    string     `json:"shortcut"`
	Weights     string     `json:"weights,omitempty"` // "float16" or "float32" storage of the weight matrices
	ClassNames  []string   `json:"class_names"`
	EOT         []int      `json:"eot_positions"`
	EOT1000     []int      `json:"eot_positions_1000,omitempty"`
	Rounds      int        `json:"rounds"`
	GoThreads   []int      `json:"gocoop_settings"`
	PyThreads   [][2]int   `json:"pytorch_settings,omitempty"`
	Searched    []string   `json:"searched_groups"`
	LossTol     float64    `json:"loss_tolerance"`
	Records     []Record   `json:"records"`
	B2N         *B2NResult `json:"base2new,omitempty"`
	Diagnostics []string   `json:"notes,omitempty"`
	LossErrors  []string   `json:"loss_mismatches,omitempty"`
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
	goThreads  []int
	pyThreads  [][2]int
	search     map[string]bool
	b2n        b2nSize
}

// lossTol is the largest relative difference allowed between GoCoOp's and
// PyTorch's loss of the same step: float32 rounding through two towers of
// 12 blocks summed in different orders (measured on the 50 classes: ≤ 3e-7,
// e.g. 4.0351210 against 4.0351219). A different step — another weight,
// image, prompt, mask or meta-net — moves the loss by far more.
const lossTol = 1e-5

func main() {
	var wa workerArgs
	flag.StringVar(&wa.Task, "worker", "", "internal: run one workload in this process")
	flag.StringVar(&wa.Variant, "variant", "", "internal: worker variant")
	flag.IntVar(&wa.Batch, "batch", 1, "internal: worker batch")
	flag.IntVar(&wa.Classes, "classes", 50, "internal: worker class count (50 or 1000)")
	flag.IntVar(&wa.Warmup, "warmup", 1, "internal: worker warm-up calls")
	flag.IntVar(&wa.Reps, "reps", 0, "timed repetitions per process (0: per workload default)")
	flag.Float64Var(&wa.SgemmTime, "sgemm-time", 0.3, "seconds per sgemm shape per process")
	flag.StringVar(&wa.Weights, "weights", "float16", "storage of CLIP's weight matrices on GoCoOp's side: float16 (clip.ConvertWeights, as the OpenAI release; both sides' values rounded to float16) or float32")

	var o options
	tasks := flag.String("tasks", "all", "comma-separated workloads: "+strings.Join(Groups, ","))
	flag.IntVar(&o.cores, "cores", 2, "cores: GOMAXPROCS and PyTorch's threads where a group is not searched; the peak's threads")
	flag.IntVar(&o.rounds, "rounds", 2, "alternations Go, PyTorch per workload (best time kept); round 1 tries every thread setting")
	flag.BoolVar(&o.quick, "quick", false, "short run: 1 round, 1 repetition, short sgemm timing, a small base2new")
	jsonPath := flag.String("json", "", "write the records as JSON to this file")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "python with torch (Debian's python3-torch)")
	flag.StringVar(&o.coretype, "coretype", "SkylakeX", "OPENBLAS_CORETYPE for PyTorch's OpenBLAS (\"\": autodetect)")
	flag.Float64Var(&o.peak, "peak", 0, "peak GFLOP/s per core (0: measured at run time by asm.MeasurePeak)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each Go workload's timed repetitions to PREFIX.<id>.pprof")
	flag.StringVar(&o.memprofile, "memprofile", "", "write a heap profile of each Go workload to PREFIX.<id>.pprof: allocations of its timed repetitions (alloc_space) and what is live after them (inuse_space)")
	flag.BoolVar(&o.nopy, "nopy", false, "GoCoOp only")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "limit per worker process")
	goThreads := flag.String("gothreads", "1,2", "GOMAXPROCS values tried in searched groups")
	pyThreads := flag.String("pythreads", "1x1,1x2,2x1,2x2", "PyTorch settings tried in searched groups: torch threads x OpenBLAS threads")
	search := flag.String("search", strings.Join(searched, ","), "groups whose thread settings are searched (\"none\": every group at -cores)")
	flag.IntVar(&o.b2n.test, "b2n-test", 2700, "base2new: test images (over 10 classes)")
	flag.IntVar(&o.b2n.epochs, "b2n-epochs", 10, "base2new: epochs")
	flag.IntVar(&o.b2n.shots, "b2n-shots", 16, "base2new: shots per class")
	cost := flag.Bool("cost", false, "print the cost model for the 50 classes and exit")
	readme := flag.String("readme", "", "print the README's table and targets from a -json `file` and exit")
	profSummary := flag.String("profsummary", "", "summarize a -cpuprofile file by op (sgemm, attention, layer norm, ...) and exit")
	flag.Parse()
	if wa.Weights != "float16" && wa.Weights != "float32" {
		fatalf("-weights %q: want float16 or float32", wa.Weights)
	}

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
	if *readme != "" {
		rep, err := readReport(*readme)
		if err != nil {
			fatalf("%v", err)
		}
		printREADME(os.Stdout, rep)
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
	if o.goThreads, err = parseInts(*goThreads); err != nil {
		fatalf("-gothreads: %v", err)
	}
	if o.pyThreads, err = parsePairs(*pyThreads); err != nil {
		fatalf("-pythreads: %v", err)
	}
	o.search = map[string]bool{}
	if *search != "none" && *search != "" {
		if o.search, err = groupSet(*search); err != nil {
			fatalf("-search: %v", err)
		}
	}
	if o.quick {
		o.rounds = 1
		wa.SgemmTime = 0.1
		o.b2n = b2nSize{test: 100, epochs: 1, shots: 2}
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
	if len(rep.LossErrors) > 0 {
		fatalf("GoCoOp and PyTorch computed different steps (losses beyond %.0e relative):\n  %s", lossTol, strings.Join(rep.LossErrors, "\n  "))
	}
}

// readReport reads a -json file.
func readReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rep, nil
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

// runs collects one side's runs of one workload, by setting.
type runs struct {
	rounds int // rounds done
	order  []string
	by     map[string][]side
}

func (r *runs) add(setting string, s side) {
	if r.by == nil {
		r.by = map[string][]side{}
	}
	if _, ok := r.by[setting]; !ok {
		r.order = append(r.order, setting)
	}
	r.by[setting] = append(r.by[setting], s)
}

// best returns the setting with the shortest time.
func (r *runs) best() string {
	bs, bt := "", math.Inf(1)
	for _, k := range r.order {
		for _, s := range r.by[k] {
			for _, t := range s.res.Times {
				if t < bt {
					bs, bt = k, t
				}
			}
		}
	}
	return bs
}

// measure summarizes the runs: the best setting's best time, its largest
// peak RSS and smallest setup time, and its first run's loss.
func (r *runs) measure(flops float64, base int64) *Measure {
	k := r.best()
	if k == "" {
		return nil
	}
	m := &Measure{Setting: k, FLOPs: flops, Seconds: math.Inf(1), Setup: math.Inf(1), Times: map[string][]float64{}}
	for _, s := range r.by[k] {
		for _, t := range s.res.Times {
			m.Seconds = min(m.Seconds, t)
		}
		m.RSS = max(m.RSS, s.rss)
		m.Setup = min(m.Setup, s.res.Setup)
	}
	m.Loss = r.by[k][0].res.Loss
	m.Tokens = r.by[k][0].res.Tokens
	if base > 0 {
		m.RSSNet = m.RSS - base
	}
	for _, kk := range r.order {
		for _, s := range r.by[kk] {
			m.Times[kk] = append(m.Times[kk], s.res.Times...)
		}
	}
	return m
}

func run(o options, groups map[string]bool, wa workerArgs) (*Report, error) {
	_, ids, err := Prompts(ClassNames)
	if err != nil {
		return nil, err
	}
	eot, _ := EOTs(ClassNames)
	rep := &Report{
		Date: time.Now().Format(time.RFC3339), Cores: o.cores, NumCPU: runtime.NumCPU(),
		LoadAvg: loadAvg(), ClassNames: ClassNames, EOT: eot, Rounds: o.rounds,
		Shortcut: shortcutNote(), GoThreads: o.goThreads, LossTol: lossTol,
		Weights: wa.Weights,
	}
	for _, g := range Groups {
		if o.search[g] {
			rep.Searched = append(rep.Searched, g)
		}
	}
	if groups["eval1000"] {
		rep.EOT1000, _ = EOTs(Names1000())
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rep.Peak = measurePeak(o.cores)
	rep.PeakGFLOPS = rep.Peak.GFLOPS
	if o.peak > 0 {
		rep.PeakGFLOPS = o.peak * float64(o.cores)
		rep.Peak.Override = rep.PeakGFLOPS
	}

	// PyTorch side.
	py := !o.nopy
	tokFiles := map[int]string{}
	if o.nopy {
		rep.PySkipped = "PyTorch columns skipped: -nopy"
	} else if o.script, err = findScript(); err != nil {
		rep.PySkipped = "PyTorch columns skipped: " + err.Error()
		py = false
	} else if v, err := torchVersion(o); err != nil {
		rep.PySkipped = fmt.Sprintf("PyTorch columns skipped: %s cannot import torch (%v); install Debian's python3-torch", o.python, err)
		py = false
	} else if !strings.Contains(strings.ToLower(v), "openblas") && !strings.Contains(strings.ToLower(v), "mkl") && !strings.Contains(strings.ToLower(v), "blis") {
		rep.PySkipped = fmt.Sprintf("PyTorch columns skipped: %s runs on the reference BLAS, not a baseline (install Debian's libopenblas0-pthread)", v)
		py = false
	} else {
		rep.Torch = v
		rep.PyThreads = o.pyThreads
		for _, n := range []int{50, 1000} {
			names := classList(n)
			if n == 1000 && !groups["eval1000"] {
				continue
			}
			_, ids, err := Prompts(names)
			if err != nil {
				return nil, err
			}
			e, _ := EOTs(names)
			f, err := os.CreateTemp("", "clipbench-tokens-*.json")
			if err != nil {
				return nil, err
			}
			defer os.Remove(f.Name())
			json.NewEncoder(f).Encode(map[string]any{"ids": ids, "eot": e, "names": names, "n_ctx": NCtx})
			f.Close()
			tokFiles[n] = f.Name()
		}
	}
	_ = ids
	if rep.PySkipped != "" {
		fmt.Println(rep.PySkipped)
	}
	fmt.Printf("GoCoOp vs %s; %d cores of %d CPUs (load average at start %s)\n", orNone(rep.Torch, "no PyTorch"), o.cores, runtime.NumCPU(), rep.LoadAvg)
	fmt.Printf("peak %s\n", rep.peakNote())
	fmt.Printf("shortcut: %s\n", rep.Shortcut)
	fmt.Printf("weights: %s\n\n", weightsNote(rep.Weights))

	goRun := func(id, task, variant string, batch, classes, procs, warm, n int) (side, error) {
		args := []string{"-worker", task, "-variant", variant, "-batch", strconv.Itoa(batch), "-classes", strconv.Itoa(classes),
			"-warmup", strconv.Itoa(warm), "-reps", strconv.Itoa(n), "-cores", strconv.Itoa(procs),
			"-sgemm-time", fmt.Sprint(wa.SgemmTime), "-weights", wa.Weights}
		name := strings.ReplaceAll(id, "/", "-")
		if o.memprofile != "" {
			args = append(args, "-memprofile", o.memprofile+"."+name+".pprof")
		}
		if o.cpuprofile != "" {
			args = append(args, "-cpuprofile", o.cpuprofile+"."+name+".pprof")
		}
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
		return runChild(cmd, o.timeout)
	}
	pyRun := func(task string, batch, classes int, cut bool, th [2]int, warm, n int) (side, error) {
		args := []string{o.script, "--task", task, "--batch", strconv.Itoa(batch), "--warmup", strconv.Itoa(warm),
			"--reps", strconv.Itoa(n), "--threads", strconv.Itoa(th[0]), "--hash",
			"--sgemm-time", fmt.Sprint(wa.SgemmTime)}
		if f := tokFiles[classes]; f != "" {
			args = append(args, "--tokens", f)
		}
		if cut {
			args = append(args, "--cut")
		}
		if wa.Weights == "float16" {
			args = append(args, "--half-weights")
		}
		cmd := exec.Command(o.python, args...)
		cmd.Env = pyEnv(o, th)
		return runChild(cmd, o.timeout)
	}

	// Baselines: a Go worker that loads nothing, a Python that imports torch.
	if g, err := goRun("baseline", "baseline", "", 1, 0, o.cores, 0, 0); err == nil {
		rep.GoBaseRSS = g.rss
	} else {
		return nil, fmt.Errorf("GoCoOp baseline: %w", err)
	}
	if py {
		if p, err := pyRun("baseline", 1, 0, false, [2]int{o.cores, o.cores}, 0, 0); err == nil {
			rep.PyBaseRSS = p.rss
		} else {
			rep.Diagnostics = append(rep.Diagnostics, "PyTorch baseline failed: "+err.Error())
		}
	}

	// sgemm: one process per side and round for all shapes, at -cores.
	if groups["sgemm"] {
		goBest, pyBest := map[string]float64{}, map[string]float64{}
		for r := range o.rounds {
			fmt.Fprintf(os.Stderr, "sgemm round %d: GoCoOp\n", r+1)
			g, err := goRun("sgemm", "sgemm", "", 1, 0, o.cores, 1, 1)
			if err != nil {
				return nil, fmt.Errorf("GoCoOp sgemm: %w", err)
			}
			mergeBest(goBest, g.res.Shapes)
			if py {
				fmt.Fprintf(os.Stderr, "sgemm round %d: PyTorch\n", r+1)
				p, err := pyRun("sgemm", 1, 0, false, [2]int{o.cores, o.cores}, 1, 1)
				if err != nil {
					rep.Diagnostics = append(rep.Diagnostics, "PyTorch sgemm failed: "+err.Error())
				} else {
					mergeBest(pyBest, p.res.Shapes)
				}
			}
		}
		goSet, pySet := goSetting(o.cores), pySetting([2]int{o.cores, o.cores})
		for _, s := range sgemmShapes {
			name := shapeName(s)
			f := SgemmFLOPs(s[0], s[1], s[2])
			rec := Record{ID: "sgemm/" + name, Label: "sgemm " + name, Group: "sgemm"}
			rec.Go = &Measure{Seconds: goBest[name], FLOPs: f, Setting: goSet}
			if t := pyBest[name]; t > 0 {
				rec.Py = &Measure{Seconds: t, FLOPs: f, Setting: pySet}
			}
			rep.Records = append(rep.Records, finish(rec, rep.PeakGFLOPS))
		}
	}

	// Model workloads, group by group. bestGo/bestPy remember the best
	// setting per task, variant and batch for the groups not searched.
	bestGo, bestPy := map[string]string{}, map[string]string{}
	for _, g := range Groups[1:] {
		if !groups[g] || g == "base2new" {
			continue
		}
		var ws []Workload
		for _, w := range Workloads() {
			if w.Group == g {
				ws = append(ws, w)
			}
		}
		goRuns := map[string]*runs{}
		pyRuns := map[string]*runs{}
		pyFailed := map[string]bool{}
		pyKey := func(w Workload, cut bool) string {
			return fmt.Sprintf("%s-b%d-c%d-cut%v", w.PyTask, w.Batch, w.Classes, cut)
		}
		// The settings of round 1.
		goSets := func(w Workload) []int {
			if o.search[g] {
				return o.goThreads
			}
			if s, ok := bestGo[fmt.Sprintf("%s/%s", w.GoTask, w.GoVariant)]; ok {
				return []int{goProcs(s)}
			}
			return []int{o.cores}
		}
		pySets := func(w Workload, cut bool) [][2]int {
			if o.search[g] {
				return o.pyThreads
			}
			if s, ok := bestPy[fmt.Sprintf("%s/cut%v", w.PyTask, cut)]; ok {
				return [][2]int{pyThreadsOf(s)}
			}
			return [][2]int{{o.cores, o.cores}}
		}
		for r := range o.rounds {
			for _, w := range ws {
				warm, n := reps(g, w.Batch, o.quick, wa.Reps)
				if w.GoTask != "" {
					rs := goRuns[w.ID]
					if rs == nil {
						rs = &runs{}
						goRuns[w.ID] = rs
					}
					sets := goSets(w)
					if r > 0 {
						sets = []int{goProcs(rs.best())}
					}
					for _, p := range sets {
						fmt.Fprintf(os.Stderr, "%s round %d: GoCoOp, %s\n", w.ID, r+1, goSetting(p))
						s, err := goRun(w.ID, w.GoTask, w.GoVariant, w.Batch, w.Classes, p, warm, n)
						if err != nil {
							return nil, fmt.Errorf("GoCoOp %s: %w", w.ID, err)
						}
						rs.add(goSetting(p), s)
					}
				}
				if !py || w.PyTask == "" {
					continue
				}
				for _, cut := range []bool{false, true} {
					if (cut && !w.PyCut) || (!cut && w.NoPyFull) {
						continue
					}
					k := pyKey(w, cut)
					rs := pyRuns[k]
					if rs == nil {
						rs = &runs{}
						pyRuns[k] = rs
					}
					if pyFailed[k] || rs.rounds > r { // rows sharing the run: once per round
						continue
					}
					sets := pySets(w, cut)
					if r > 0 {
						sets = [][2]int{pyThreadsOf(rs.best())}
					}
					for _, th := range sets {
						fmt.Fprintf(os.Stderr, "%s round %d: PyTorch%s, %s\n", k, r+1, map[bool]string{true: " cut", false: ""}[cut], pySetting(th))
						s, err := pyRun(w.PyTask, w.Batch, w.Classes, cut, th, warm, n)
						if err != nil {
							pyFailed[k] = true
							rep.Diagnostics = append(rep.Diagnostics, fmt.Sprintf("PyTorch %s failed: %v", k, err))
							fmt.Fprintf(os.Stderr, "PyTorch %s failed: %v\n", k, err)
							break
						}
						rs.add(pySetting(th), s)
					}
					rs.rounds = r + 1
				}
			}
		}
		for _, w := range ws {
			e := eot
			if w.Classes == 1000 {
				e = rep.EOT1000
			}
			rec := Record{ID: w.ID, Label: w.Label, Group: g, Batch: w.Batch, Classes: w.Classes}
			if rs := goRuns[w.ID]; rs != nil {
				rec.Go = rs.measure(w.FLOPs(e), rep.GoBaseRSS)
				if rec.Go != nil && w.Batch == 1 {
					bestGo[fmt.Sprintf("%s/%s", w.GoTask, w.GoVariant)] = rec.Go.Setting
				}
			}
			if rs := pyRuns[pyKey(w, false)]; rs != nil {
				f := w.FLOPs(e)
				if w.PyFLOPs != nil {
					f = w.PyFLOPs(e)
				}
				rec.Py = rs.measure(f, rep.PyBaseRSS)
				if rec.Py != nil && w.Batch == 1 {
					bestPy[fmt.Sprintf("%s/cut%v", w.PyTask, false)] = rec.Py.Setting
				}
			}
			if rs := pyRuns[pyKey(w, true)]; rs != nil && w.CutFLOPs != nil {
				rec.PyCut = rs.measure(w.CutFLOPs(e), rep.PyBaseRSS)
				if rec.PyCut != nil && w.Batch == 1 {
					bestPy[fmt.Sprintf("%s/cut%v", w.PyTask, true)] = rec.PyCut.Setting
				}
			}
			if w.NoPyFull && py {
				rec.Note = "no official 77-token PyTorch run: 1,000 × 77 rows per image"
			}
			rec = finish(rec, rep.PeakGFLOPS)
			rep.LossErrors = append(rep.LossErrors, checkLoss(rec)...)
			rep.Records = append(rep.Records, rec)
		}
	}

	if groups["base2new"] {
		res, err := runBase2New(o, exe)
		if err != nil {
			return nil, fmt.Errorf("base2new: %w", err)
		}
		res.finish(rep.PeakGFLOPS, rep.GoBaseRSS)
		rep.B2N = res
	}
	end := measurePeak(o.cores)
	rep.Peak.merge(end)
	if o.peak <= 0 {
		rep.PeakGFLOPS = rep.Peak.GFLOPS
		for i := range rep.Records {
			rep.Records[i] = finish(rep.Records[i], rep.PeakGFLOPS)
		}
		if rep.B2N != nil {
			rep.B2N.finish(rep.PeakGFLOPS, rep.GoBaseRSS)
		}
	}
	rep.LoadAvgEnd = loadAvg()
	return rep, nil
}

// checkLoss compares GoCoOp's loss with each PyTorch run's: the same step
// on the same weights, images and prompts must give the same loss to
// float32 rounding (lossTol, relative).
func checkLoss(r Record) []string {
	if r.Go == nil || r.Go.Loss == 0 {
		return nil
	}
	var errs []string
	for _, p := range []struct {
		name string
		m    *Measure
	}{{"official", r.Py}, {"cut", r.PyCut}} {
		if p.m == nil {
			continue
		}
		if d := math.Abs(p.m.Loss-r.Go.Loss) / math.Max(1, math.Abs(r.Go.Loss)); !(d <= lossTol) {
			errs = append(errs, fmt.Sprintf("%s: GoCoOp loss %.7g, PyTorch (%s) %.7g", r.ID, r.Go.Loss, p.name, p.m.Loss))
		}
	}
	return errs
}

func finish(r Record, peak float64) Record {
	for _, m := range []*Measure{r.Go, r.Py, r.PyCut} {
		if m != nil && m.Seconds > 0 {
			m.GFLOPS = m.FLOPs / m.Seconds / 1e9
			if peak > 0 {
				m.PeakPct = 100 * m.GFLOPS / peak
			}
		}
	}
	if r.Go == nil || r.Go.Seconds <= 0 {
		return r
	}
	r.Ratio, r.Against, r.RSSRatio = 0, "", 0
	for _, p := range []struct {
		name string
		m    *Measure
	}{{"official", r.Py}, {"cut", r.PyCut}} {
		if p.m == nil || p.m.Seconds <= 0 {
			continue
		}
		if ratio := p.m.Seconds / r.Go.Seconds; r.Ratio == 0 || ratio < r.Ratio {
			r.Ratio, r.Against = ratio, p.name
			r.RSSRatio = 0
			if p.m.RSSNet > 0 && r.Go.RSSNet > 0 {
				r.RSSRatio = float64(p.m.RSSNet) / float64(r.Go.RSSNet)
			}
		}
	}
	return r
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

func torchVersion(o options) (string, error) {
	if _, err := os.Stat(o.python); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.python, o.script, "--version")
	cmd.Env = pyEnv(o, [2]int{o.cores, o.cores})
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
		"off = clip.TextTransformer.FullPrompts (every prompt at 77 tokens, as the official code and the PyTorch side); " +
		"either way GoCoOp's image tower computes only the class token in its last block (exact: nn.ResidualAttentionBlock.ForwardFirst)"
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
	e1000, err := EOTs(Names1000())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n1,000 synthetic classes (Names1000), prompts %d–%d tokens:\n", minInt(e1000)+1, cutLen(e1000))
	fmt.Fprint(w, cost1000(e1000))
	return nil
}

func minInt(x []int) int {
	m := x[0]
	for _, v := range x {
		m = min(m, v)
	}
	return m
}

func fatalf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, "clipbench: "+f+"\n", args...)
	os.Exit(1)
}

// weightsNote says how the two sides hold the hash weights.
func weightsNote(w string) string {
	if w == "float16" {
		return "the weight matrices' hash values rounded to float16 on both sides (clip.HalfWeight's entries, as the OpenAI release stores them); GoCoOp stores them in float16 (clip.ConvertWeights), the image tower's prepacked as the sgemm's panels (clip.PrepackImageWeights), the text tower's too except in the training step (clip.PrepackTextWeights), and widens them exactly as it reads them, PyTorch holds them in float32 (CPU PyTorch has no float16 matmul; clip.load on a CPU calls model.float()); all arithmetic float32 on both sides"
	}
	return "float32 hash weights on both sides"
}
