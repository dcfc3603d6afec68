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

	"github.com/gocoop/gocoop/clip"
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

// loadModel loads the CLIP weights.
func loadModel(path string, rep *reporter) (*clip.CLIP, error) {
	if err := checkFile("weights", path); err != nil {
		return nil, err
	}
	rep.logf("loading CLIP weights %s", path)
	m, err := clip.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--weights: %w", err)
	}
	return m, nil
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
	args        []string // the command's arguments, for the log
	weights     string   // --weights
	logDir      string   // "": no log file; else created, and log.txt in it appended to
	quiet       bool     // --quiet
	interrupt   bool     // Ctrl-C cancels session.ctx (a clean stop) instead of ending the process
	fullPrompts bool     // --full-prompts
}

// session is a started run.
type session struct {
	ctx   context.Context // cancelled by Ctrl-C with runSpec.interrupt
	rep   *reporter
	model *clip.CLIP
	stop  func() // closes the log and gives Ctrl-C back
}

// startRun creates the log directory and opens its log.txt, makes the
// reporter, loads the CLIP weights and catches Ctrl-C. The caller defers
// session.stop.
func startRun(fs *flag.FlagSet, s runSpec) (*session, error) {
	sess := &session{ctx: context.Background(), rep: newReporter(stderrOf(fs), s.quiet), stop: func() {}}
	if s.logDir != "" {
		if err := os.MkdirAll(s.logDir, 0o755); err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(s.logDir, "log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		sess.stop = func() { logf.Close() }
		sess.rep = sess.rep.withLog(logf)
		sess.rep.logf("%s %q", fs.Name(), s.args)
	}
	m, err := loadModel(s.weights, sess.rep)
	if err != nil {
		sess.stop()
		return nil, err
	}
	m.Text.FullPrompts = s.fullPrompts // --full-prompts: the text tower's one route switch
	sess.model = m
	if s.interrupt {
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
		closeLog := sess.stop
		sess.ctx, sess.stop = ctx, func() { cancel(); closeLog() }
	}
	return sess, nil
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
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
