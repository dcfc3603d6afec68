package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

// WorkerResult is what a worker process (either side) prints on its last
// stdout line, after "RESULT ".
type WorkerResult struct {
	Times  []float64          `json:"times"`            // seconds per timed repetition
	Shapes map[string]float64 `json:"shapes,omitempty"` // sgemm: best seconds per shape
	Setup  float64            `json:"setup_s"`          // model construction etc.
	Info   string             `json:"info,omitempty"`
	// Loss is the first training step's loss (before any update), or for
	// evaluation the cross-entropy of the logits against the labels: the
	// same number on both sides when they compute the same step.
	Loss   float64 `json:"loss,omitempty"`
	Tokens int     `json:"tokens,omitempty"` // PyTorch --cut: the prompts' length
}

// workerArgs are the hidden flags of a Go worker process.
type workerArgs struct {
	Task, Variant string
	Batch         int
	Classes       int
	Warmup, Reps  int
	Cores         int
	SgemmTime     float64
	CPUProfile    string
	MemProfile    string
	Weights       string // "float16" or "float32" (the -weights flag)
}

// runWorker runs one workload in this process and prints its result.
func runWorker(a workerArgs) error {
	runtime.GOMAXPROCS(a.Cores)
	tensor.SetGCDefaults() // as the cocoop command
	t0 := time.Now()
	var res WorkerResult
	var err error
	switch a.Task {
	case "baseline":
		// Nothing: this process's peak RSS is the Go side's baseline.
	case "sgemm":
		res, err = goSgemm(a)
	default:
		res, err = goModel(a, t0)
	}
	if err != nil {
		return err
	}
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	return nil
}

// timeReps runs warm-up calls of f, then reps timed calls of f, with the
// CPU profile (if any) covering the timed calls only.
func timeReps(a workerArgs, f func()) ([]float64, error) {
	for range a.Warmup {
		f()
	}
	if a.CPUProfile != "" {
		pf, err := os.Create(a.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if a.MemProfile != "" {
		// Allocation counts are cumulative: start them at the timed calls.
		runtime.MemProfileRate = 64 << 10
		runtime.GC()
		pprof.Lookup("allocs").WriteTo(io.Discard, 0)
	}
	times := make([]float64, 0, a.Reps)
	for range a.Reps {
		t := time.Now()
		f()
		times = append(times, time.Since(t).Seconds())
	}
	if a.MemProfile != "" {
		if err := writeHeapProfile(a.MemProfile); err != nil {
			return nil, err
		}
	}
	return times, nil
}

// writeHeapProfile writes the heap profile (alloc_space of the calls since
// the profile rate was set, inuse_space after a GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func goSgemm(a workerArgs) (WorkerResult, error) {
	res := WorkerResult{Shapes: map[string]float64{}, Info: fmt.Sprintf("asm.Sgemm tier %v", asm.CurrentTier())}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range sgemmShapes {
		m, k, n := s[0], s[1], s[2]
		mk := func(l int) []float32 {
			x := make([]float32, l)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			return x
		}
		x, y, z := mk(m*k), mk(k*n), make([]float32, m*n)
		run := func() { asm.Sgemm(false, false, m, n, k, 1, x, k, y, n, 0, z, n) }
		run()
		best := 1e300
		deadline := time.Now().Add(time.Duration(a.SgemmTime * float64(time.Second)))
		for time.Now().Before(deadline) || best == 1e300 {
			t := time.Now()
			run()
			best = min(best, time.Since(t).Seconds())
		}
		res.Shapes[shapeName(s)] = best
	}
	return res, nil
}

// goModel runs the model workloads on a hash-weight ViT-B/16.
func goModel(a workerArgs, t0 time.Time) (WorkerResult, error) {
	var res WorkerResult
	var m *clip.CLIP
	var err error
	switch a.Weights {
	case "float16":
		// As the cocoop command loads the fp16 release: the frozen image
		// tower's Linear weights prepacked (clip.PrepackImageWeights), the
		// text tower's too where gradients do not pass through it
		// (PrepackTextWeights).
		m, err = clip.NewHashCLIPHalf(clip.ViTB16)
		if err == nil {
			clip.PrepackImageWeights(m)
			if a.Task != "train" {
				clip.PrepackTextWeights(m)
			}
		}
	case "float32":
		m, err = clip.NewHashCLIP(clip.ViTB16)
	default:
		err = fmt.Errorf("-weights %q: want float16 or float32", a.Weights)
	}
	if err != nil {
		return res, err
	}
	names := classList(a.Classes)
	images := clip.HashTensor("bench.images", 1, 0, a.Batch, 3, clip.ImageSize, clip.ImageSize)
	labels := make([]int, a.Batch)
	for i := range labels {
		labels[i] = (7 * i) % len(names)
	}
	_, ids, err := Prompts(names)
	if err != nil {
		return res, err
	}
	var run func()
	var last *tensor.Tensor // evaluation: the logits of the last call
	switch a.Task {
	case "image":
		run = func() { autograd.NoGrad(func() { m.EncodeImage(images) }) }
	case "text":
		switch a.Variant {
		case "plain":
			run = func() { autograd.NoGrad(func() { m.EncodeText(ids) }) }
		case "shortcut":
			run = func() {
				autograd.NoGrad(func() { m.EncodeTextEmbeddingsShared(m.TokenEmbedding(ids), ids, 1+NCtx) })
			}
		default:
			return res, fmt.Errorf("text: unknown variant %q", a.Variant)
		}
	case "train", "eval":
		cfg := cocoop.DefaultCoCoOpConfig()
		switch a.Variant {
		case "shortcut", "off":
			// off: every class prompt at the full 77 tokens for every image
			// (clip.TextTransformer.FullPrompts), as the official code and
			// the PyTorch side run them.
			m.Text.FullPrompts = a.Variant == "off"
		default:
			return res, fmt.Errorf("%s: unknown variant %q", a.Task, a.Variant)
		}
		c, err := cocoop.NewCoCoOp(m, cfg, names)
		if err != nil {
			return res, err
		}
		if err := hashMetaNet(c); err != nil {
			return res, err
		}
		opt := optim.NewSGD(c.NamedParameters(""), float32(cfg.LR), float32(cfg.Momentum), float32(cfg.WeightDecay))
		step := func(imgs *tensor.Tensor, labels []int) float64 {
			r, err := c.ForwardBackward(imgs, labels)
			if err != nil {
				panic(err)
			}
			return r.Loss
		}
		logits := func() { last = c.Logits(images) }
		if a.Task == "train" {
			first := true
			one := func(imgs *tensor.Tensor, labels []int) {
				l := step(imgs, labels)
				if first {
					res.Loss, first = l, false
				}
				opt.Step()
				opt.ZeroGrad()
			}
			run = func() { one(images, labels) }
		} else {
			run = logits
		}
	default:
		return res, fmt.Errorf("unknown task %q", a.Task)
	}
	res.Setup = time.Since(t0).Seconds()
	res.Info = fmt.Sprintf("GoCoOp %s/%s, GOMAXPROCS %d, sgemm tier %v", a.Task, a.Variant, runtime.GOMAXPROCS(0), asm.CurrentTier())
	res.Times, err = timeReps(a, run)
	if last != nil {
		res.Loss = crossEntropy(last, labels)
	}
	return res, err
}

// hashMetaNet sets CoCoOp's meta-net to the hash init that
// bench_torch.py's meta_net_spec gives PyTorch's (names "bench.meta_net.*",
// scale 1/√fan_in, the first bias offset by 0.1), keeping the word-init ctx.
func hashMetaNet(c *cocoop.CoCoOp) error {
	vis := c.Model.EmbedDim
	hidden := vis / 16
	width := c.Model.TransformerWidth
	inv := func(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }
	sd := map[string]*tensor.Tensor{
		"ctx":                     c.Prompt.Ctx.Value.Clone(),
		"meta_net.linear1.weight": clip.HashTensor("bench.meta_net.linear1.weight", inv(vis), 0, hidden, vis),
		"meta_net.linear1.bias":   clip.HashTensor("bench.meta_net.linear1.bias", inv(vis), 0.1, hidden),
		"meta_net.linear2.weight": clip.HashTensor("bench.meta_net.linear2.weight", inv(hidden), 0, width, hidden),
		"meta_net.linear2.bias":   clip.HashTensor("bench.meta_net.linear2.bias", inv(hidden), 0, width),
	}
	return cocoop.LoadParams(c, sd)
}

// crossEntropy is the mean cross-entropy of logits [B, n] against labels,
// in float64.
func crossEntropy(logits *tensor.Tensor, labels []int) float64 {
	x := logits.Contiguous().Data()
	n := logits.Dim(1)
	var sum float64
	for i, l := range labels {
		row := x[i*n : (i+1)*n]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - m)
		}
		sum += m + math.Log(z) - float64(row[l])
	}
	return sum / float64(len(labels))
}
