package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/ckpt"
	"github.com/gocoop/gocoop/cocoop/data"
	"github.com/gocoop/gocoop/tensor"
)

// The steps shared by the train, eval, base2new and inspect commands.

// stderrOf returns the command's stderr: run gives every flag set its
// stderr as output before calling the command.
func stderrOf(fs *flag.FlagSet) io.Writer { return fs.Output() }

// loadDataset reads a dataset; errors from data.Load (missing files, a bad
// split file) are returned as they are.
func loadDataset(name, root string) (*data.Dataset, error) {
	if root == "" {
		return nil, usagef("--root is required: the directory holding the dataset folders (e.g. $DATA with $DATA/eurosat)")
	}
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("--root %s: %w", root, unwrapPathError(err))
	}
	return data.Load(name, root)
}

// loadModel loads the CLIP weights of --weights path, logging to rep when
// it is not nil. A directory, or a prompt checkpoint given in place of the
// weights, gets a clear error. CLIP is frozen in every command that loads
// it here, so the weight matrices a file stores in float16 (the OpenAI
// release) stay float16 (clip.LoadHalfWeights: the same results, half the
// weight memory), and, when the model stays on the CPU (dev nil or
// tensor.CPU), the image tower's are prepacked for the sgemm
// (clip.PrepackImageWeights: the same results, faster forwards), and the
// text tower's too unless textGrad (the commands that train or inspect
// prompts pass gradients back through it: clip.PrepackTextWeights).
func loadModel(path string, rep *reporter, dev tensor.Device, textGrad bool) (*clip.CLIP, error) {
	if err := checkFile("weights", path); err != nil {
		return nil, err
	}
	if rep != nil {
		rep.logf("loading CLIP weights %s", path)
	}
	m, err := clip.LoadHalfWeights(path)
	if err != nil {
		if isPromptCheckpoint(path) {
			return nil, fmt.Errorf("--weights %s is a prompt checkpoint written by cocoop train (ctx, meta_net.*), not CLIP weights: pass it with --checkpoint (eval, inspect) or --resume (train), and give the CLIP checkpoint (e.g. ViT-B-16.pt) with --weights", path)
		}
		return nil, fmt.Errorf("--weights: %w", err) // clip.Load's errors name the path
	}
	if dev == nil || dev == tensor.CPU {
		clip.PrepackImageWeights(m)
		if !textGrad {
			clip.PrepackTextWeights(m)
		}
	}
	return m, nil
}

// isPromptCheckpoint reports whether path is a safetensors file holding a
// learned prompt (the keys cocoop.SaveCheckpoint writes: ctx, meta_net.*).
func isPromptCheckpoint(path string) bool {
	sd, _, err := ckpt.Load(path)
	if err != nil {
		return false
	}
	for _, k := range sd.Keys() {
		if k == "ctx" || strings.HasPrefix(k, "meta_net.") {
			return true
		}
	}
	return false
}

// dataSpec is the data of a run: the dataset, its few-shot subset and
// the classes kept.
type dataSpec struct {
	weights   string      // --weights, checked before the dataset is read
	name      string      // registry name (checkDatasetName)
	root      string      // --root
	shots     int         // few-shot images per class; 0 keeps every image
	rng       data.Intner // the few-shot sampler, with shots > 0
	subsample string      // all, base or new
}

// loadRunData checks that --weights exists, reads the dataset, draws its
// few-shot subset and keeps the subsample classes.
func loadRunData(s dataSpec) (*data.Dataset, error) {
	if err := checkFile("weights", s.weights); err != nil {
		return nil, err
	}
	ds, err := loadDataset(s.name, s.root)
	if err != nil {
		return nil, err
	}
	return data.SubsampleClasses(data.FewShot(ds, s.shots, s.rng), s.subsample)
}

// runSpec says how startRun starts a run.
type runSpec struct {
	args        []string      // the command's arguments, for the log
	weights     string        // --weights
	logDir      string        // "": no log file; else created, and log.txt in it appended to
	quiet       bool          // --quiet
	interrupt   bool          // Ctrl-C cancels session.ctx (a clean stop) instead of ending the process
	fullPrompts bool          // --full-prompts
	device      tensor.Device // --device, opened (nil: the CPU)
	textGrad    bool          // gradients pass through the text tower (train, base2new, inspect)
}

// session is a started run.
type session struct {
	ctx   context.Context // cancelled by Ctrl-C with runSpec.interrupt
	rep   *reporter
	model *clip.CLIP
	log   *os.File // log.txt, or nil
	stop  func()   // gives Ctrl-C back
}

// startRun loads the CLIP weights, then creates the log directory and
// opens its log.txt (so that bad weights leave nothing behind), makes the
// reporter and catches Ctrl-C. The caller defers session.close(&err).
func startRun(fs *flag.FlagSet, s runSpec) (*session, error) {
	sess := &session{ctx: context.Background(), rep: newReporter(stderrOf(fs), s.quiet), stop: func() {}}
	m, err := loadModel(s.weights, sess.rep, s.device, s.textGrad)
	if err != nil {
		return nil, err
	}
	m.Text.FullPrompts = s.fullPrompts // --full-prompts: the text tower's one route switch
	if s.device != nil && s.device != tensor.CPU {
		if _, err := m.To(s.device); err != nil {
			return nil, err
		}
		sess.rep.logf("models on %v", s.device)
	}
	sess.model = m
	if s.logDir != "" {
		if err := os.MkdirAll(s.logDir, 0o755); err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(s.logDir, "log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		sess.log = logf
		sess.rep = sess.rep.withLog(logf)
		fmt.Fprintf(logf, "%s %q\nCLIP weights %s\n", fs.Name(), s.args, s.weights)
	}
	if s.interrupt {
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
		sess.ctx, sess.stop = ctx, cancel
	}
	return sess, nil
}

// close ends the session: a failed run's error goes to its log.txt (run
// prints it on stderr), then the log is closed and Ctrl-C given back.
func (s *session) close(errp *error) {
	s.stop()
	if s.log == nil {
		return
	}
	if err := *errp; err != nil {
		fmt.Fprintf(s.log, "error: %v\n", err)
	}
	s.log.Close()
}

// interrupted returns the error of a run stopped by Ctrl-C: errInterrupted
// (exit code 130) followed by what to do next.
func interrupted(format string, a ...any) error {
	return fmt.Errorf("%w; %s", errInterrupted, fmt.Sprintf(format, a...))
}

// staleTemp reports whether name is a temporary file this command writes
// in an output directory and renames into place (ckpt.WriteFileAtomic's
// ".NAME.tmpDIGITS" for a .safetensors or .json NAME). A run killed
// (SIGKILL, power loss) between the write and the rename leaves one.
func staleTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp")
	if !strings.HasPrefix(name, ".") || i < 0 {
		return false
	}
	base, digits := name[1:i], name[i+4:]
	return (strings.HasSuffix(base, ".safetensors") || strings.HasSuffix(base, ".json")) &&
		digits != "" && strings.Trim(digits, "0123456789") == ""
}

// removeStaleTemps deletes the temporary files of an earlier, killed run
// from dir (see staleTemp) and logs each one.
func removeStaleTemps(dir string, rep *reporter) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && staleTemp(e.Name()) {
			p := filepath.Join(dir, e.Name())
			if os.Remove(p) == nil {
				rep.logf("removed %s, left by an interrupted write", p)
			}
		}
	}
}

// shotsUsed returns the fewest and the most training images of a class in
// ds.Train (a class without any counts as 0).
func shotsUsed(ds *data.Dataset) (lo, hi int) {
	n := make([]int, len(ds.ClassNames))
	for _, d := range ds.Train {
		if d.Label >= 0 && d.Label < len(n) {
			n[d.Label]++
		}
	}
	if len(n) == 0 {
		return 0, 0
	}
	return slices.Min(n), slices.Max(n)
}

// shotsLabel describes the few-shot subset: the requested shots, or the
// counts actually drawn where classes had fewer images (Dassl's
// generate_fewshot_dataset then keeps every image of the class, with no
// repeats).
func shotsLabel(requested, lo, hi int) string {
	switch {
	case requested == 0:
		return "all train images"
	case lo >= requested:
		return fmt.Sprintf("%d shots", requested)
	case lo == hi:
		return fmt.Sprintf("%d shots (%d requested: every class has only %d train images)", lo, requested, lo)
	}
	return fmt.Sprintf("%d-%d shots (%d requested: some classes have fewer train images)", lo, hi, requested)
}

// warnFewShots logs a warning when a class has fewer than requested
// training images.
func warnFewShots(rep *reporter, name string, requested, lo, hi int) {
	if requested > 0 && lo < requested {
		rep.logf("warning: %s: --shots %d, but the smallest class has %d train images (largest %d): such classes use all their images, as Dassl does; the run has %s",
			name, requested, lo, hi, shotsLabel(requested, lo, hi))
	}
}

// checkEvalSplit refuses to evaluate an empty split, as eval does.
func checkEvalSplit(ds *data.Dataset, items []data.Datum, split, subsample string) error {
	if len(items) == 0 {
		return fmt.Errorf("%s: the %s split of the %s classes is empty: no images to evaluate", ds.Name, split, subsample)
	}
	return nil
}

// skippedInfo is the JSON record of skipped images.
type skippedInfo struct {
	Count      int      `json:"count"`
	First      []string `json:"first,omitempty"`
	FirstError string   `json:"first_error,omitempty"`
}

func (s *skippedInfo) add(st data.Stats) {
	s.Count += st.Skipped
	for _, p := range st.FirstSkipped {
		if len(s.First) < 10 {
			s.First = append(s.First, p)
		}
	}
	if s.FirstError == "" {
		s.FirstError = st.FirstError
	}
}

// writeSkipped prints the skipped-image count of a summary.
func writeSkipped(w io.Writer, s skippedInfo) {
	if s.Count == 0 {
		return
	}
	fmt.Fprintf(w, "  skipped %d unreadable images (--skip-unreadable), first: %s\n", s.Count, s.First[0])
	if s.FirstError != "" {
		fmt.Fprintf(w, "    %s\n", s.FirstError)
	}
}

// catch turns a panic of the model code into an error (tensor.Try).
var catch = tensor.Try

// writeJSON writes v indented to path atomically, creating its directory.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return ckpt.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
