package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
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
