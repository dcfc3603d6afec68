package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop/data/datatest"
)

// The base2new workload: one whole `cocoop base2new` run (CoCoOp, seed 1)
// on a generated dataset of EuroSAT's size and layout — 10 classes, base =
// the first 5, new = the last 5; 16 training images per class (the
// shots), 4 validation and 270 test images per class (2,700 in all), 64×64
// PNGs of a class colour with hashed noise — with ViT-B/16 hash weights
// written in float16 as the OpenAI release stores them (the command keeps
// them in float16 and prepacks the image tower's), the paper's
// configuration (batch 1, 10 epochs). Its wall time (building
// nothing: the command is built before the clock starts) is set against
// the FLOPs the run does by the cost model: every training step on the
// base classes (shots × 5 per epoch) and every test image, base test over
// the base classes and new test over the new ones, shortcut on (the
// default). The image decoding, resizing and logging are in the time but
// not in the FLOPs. There is no PyTorch equivalent: bench/reference has no
// Dassl data pipeline or trainer.

// b2nClasses are EuroSAT's folders and the class names of its CoOp split.
var b2nClasses = []datatest.Class{
	{Folder: "AnnualCrop", Name: "Annual Crop Land", RGB: [3]uint8{230, 200, 40}},
	{Folder: "Forest", Name: "Forest", RGB: [3]uint8{20, 120, 30}},
	{Folder: "HerbaceousVegetation", Name: "Herbaceous Vegetation Land", RGB: [3]uint8{140, 200, 90}},
	{Folder: "Highway", Name: "Highway or Road", RGB: [3]uint8{120, 120, 120}},
	{Folder: "Industrial", Name: "Industrial Buildings", RGB: [3]uint8{200, 80, 80}},
	{Folder: "Pasture", Name: "Pasture Land", RGB: [3]uint8{170, 230, 120}},
	{Folder: "PermanentCrop", Name: "Permanent Crop Land", RGB: [3]uint8{200, 150, 60}},
	{Folder: "Residential", Name: "Residential Buildings", RGB: [3]uint8{220, 220, 210}},
	{Folder: "River", Name: "River", RGB: [3]uint8{30, 60, 200}},
	{Folder: "SeaLake", Name: "Sea or Lake", RGB: [3]uint8{10, 20, 90}},
}

// b2nSize is the generated dataset and schedule.
type b2nSize struct {
	test   int // test images over the 10 classes
	epochs int
	shots  int
}

// B2NResult is the base2new row.
type B2NResult struct {
	Test, Epochs, Shots int
	TrainSteps          int             `json:"train_steps"`
	TestImages          int             `json:"test_images"`
	Seconds             float64         `json:"seconds"`
	FLOPs               float64         `json:"flop"`
	GFLOPS              float64         `json:"gflops"`
	PeakPct             float64         `json:"peak_pct"`
	RSS                 int64           `json:"peak_rss_bytes"`
	RSSNet              int64           `json:"peak_rss_net_bytes"`
	Cores               int             `json:"gomaxprocs"`
	Report              json.RawMessage `json:"base2new_json,omitempty"`
}

// Label is the table's row label.
func (b *B2NResult) Label() string {
	return fmt.Sprintf("whole base2new run: EuroSAT-size, %d test images, %d shots, %d epochs (%d training steps)", b.TestImages, b.Shots, b.Epochs, b.TrainSteps)
}

// Note says what the row counts.
func (b *B2NResult) Note() string {
	return fmt.Sprintf("base2new: `cocoop base2new` wall time (data loading, decoding and resizing included) against %.0f GFLOP "+
		"(%d training steps over 5 base classes, %d test images over 5 classes, shortcut on); GoCoOp only (no PyTorch harness)", b.FLOPs/1e9, b.TrainSteps, b.TestImages)
}

func (b *B2NResult) finish(peak float64, base int64) {
	if b.Seconds > 0 {
		b.GFLOPS = b.FLOPs / b.Seconds / 1e9
		if peak > 0 {
			b.PeakPct = 100 * b.GFLOPS / peak
		}
	}
	if base > 0 && b.RSS > 0 {
		b.RSSNet = b.RSS - base
	}
}

// b2nFLOPs is the cost model of the run: trainSteps batch-1 training steps
// over the base classes and testPerSplit test images over each half.
func b2nFLOPs(trainSteps, testPerSplit int) (float64, error) {
	var base, novel []string
	for i, c := range b2nClasses {
		if i < 5 {
			base = append(base, c.Name)
		} else {
			novel = append(novel, c.Name)
		}
	}
	eb, err := EOTs(base)
	if err != nil {
		return 0, err
	}
	en, err := EOTs(novel)
	if err != nil {
		return 0, err
	}
	cfg := clip.ViTB16
	f := float64(trainSteps) * CoCoOpStepFLOPs(cfg, 1, NCtx, eb, true, true).Total()
	f += float64(testPerSplit) * CoCoOpStepFLOPs(cfg, 1, NCtx, eb, true, false).Total()
	f += float64(testPerSplit) * CoCoOpStepFLOPs(cfg, 1, NCtx, en, true, false).Total()
	return f, nil
}

func runBase2New(o options, exe string) (*B2NResult, error) {
	sz := o.b2n
	if sz.test < 10 || sz.epochs < 1 || sz.shots < 1 {
		return nil, fmt.Errorf("size %+v", sz)
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "clipbench-b2n-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "base2new: building cmd/cocoop, writing hash weights and a %d-image dataset in %s\n", sz.test, dir)
	bin := filepath.Join(dir, "cocoop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cocoop")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/cocoop: %v\n%s", err, out)
	}
	m, err := clip.NewHashCLIPHalf(clip.ViTB16)
	if err != nil {
		return nil, err
	}
	weights := filepath.Join(dir, "vitb16-hash-fp16.safetensors")
	if err := clip.SaveSafetensors(weights, m, map[string]string{"generator": "bench/clipbench hash weights"}); err != nil {
		return nil, err
	}
	m = nil
	perClass := sz.test / len(b2nClasses)
	if err := writeB2NData(filepath.Join(dir, "data"), sz.shots, 4, perClass); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out")
	args := []string{"base2new", "--weights", weights, "--dataset", "EuroSAT", "--root", filepath.Join(dir, "data"),
		"--out", out, "--seeds", "1", "--shots", strconv.Itoa(sz.shots), "--epochs", strconv.Itoa(sz.epochs), "--quiet"}
	fmt.Fprintf(os.Stderr, "base2new: cocoop %v\n", args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(o.cores))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	t0 := time.Now()
	err = cmd.Run()
	secs := time.Since(t0).Seconds()
	if err != nil {
		return nil, fmt.Errorf("cocoop base2new: %w", err)
	}
	res := &B2NResult{Test: sz.test, Epochs: sz.epochs, Shots: sz.shots, Seconds: secs, Cores: o.cores,
		TrainSteps: 5 * sz.shots * sz.epochs, TestImages: 2 * 5 * perClass}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.RSS = int64(ru.Maxrss) * 1024
	}
	b, err := os.ReadFile(filepath.Join(out, "base2new.json"))
	if err != nil {
		return nil, fmt.Errorf("no base2new.json: %w", err)
	}
	res.Report = b
	// The counts the run reports: its training steps and test images.
	var rj struct {
		PerSeed []struct {
			Base, New struct{ Total int }
			Epochs    []struct{ Steps int }
		} `json:"per_seed"`
	}
	if err := json.Unmarshal(b, &rj); err != nil || len(rj.PerSeed) != 1 {
		return nil, fmt.Errorf("base2new.json: %v (%d seeds)", err, len(rj.PerSeed))
	}
	ps := rj.PerSeed[0]
	steps := 0
	for _, e := range ps.Epochs {
		steps += e.Steps
	}
	if steps != res.TrainSteps || ps.Base.Total+ps.New.Total != res.TestImages || ps.Base.Total != ps.New.Total {
		return nil, fmt.Errorf("base2new.json: %d training steps, %d + %d test images; generated for %d and %d", steps, ps.Base.Total, ps.New.Total, res.TrainSteps, res.TestImages)
	}
	if res.FLOPs, err = b2nFLOPs(res.TrainSteps, ps.Base.Total); err != nil {
		return nil, err
	}
	return res, nil
}

// writeB2NData writes eurosat/2750/<folder>/*.png and
// eurosat/split_zhou_EuroSAT.json under root: nTrain, nVal and nTest
// images per class, each a 64×64 PNG (EuroSAT's size) of the class colour
// plus hashed noise of ±40 per channel, seeded by the image's name.
func writeB2NData(root string, nTrain, nVal, nTest int) error {
	const size = 64
	return datatest.WriteEuroSAT(root, b2nClasses, datatest.Counts{Train: nTrain, Val: nVal, Test: nTest},
		func(c datatest.Class, split string, i int) image.Image {
			noise := clip.HashTensor("b2n."+c.Folder+split+strconv.Itoa(i), 40, 0, size*size*3).Data()
			img := image.NewRGBA(image.Rect(0, 0, size, size))
			for y := range size {
				for x := range size {
					var px [3]uint8
					for ch := range 3 {
						v := float32(c.RGB[ch]) + noise[(y*size+x)*3+ch]
						px[ch] = uint8(min(255, max(0, v)))
					}
					img.Set(x, y, color.RGBA{px[0], px[1], px[2], 255})
				}
			}
			return img
		})
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found (run from inside the repository)")
		}
		dir = parent
	}
}
