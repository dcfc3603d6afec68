// Package datatest writes small synthetic datasets in CoOp's layouts for
// tests and benchmarks, so that the real loaders and commands run on them
// unchanged.
package datatest

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// Class is one class of a synthetic EuroSAT: its image folder (EuroSAT's
// 2750/<Folder>), its name in the split file (the prompt name) and a
// colour that image generators may use.
type Class struct {
	Folder, Name string
	RGB          [3]uint8
}

// Counts are the images per class of each split.
type Counts struct{ Train, Val, Test int }

// WriteEuroSAT writes root/eurosat in CoOp's EuroSAT layout —
// 2750/<Folder>/<Folder>_<split>_<i>.png and split_zhou_EuroSAT.json, whose
// entries are [relative path, label, name] — with the images of every
// class in classes (label = index) drawn by img.
func WriteEuroSAT(root string, classes []Class, n Counts, img func(c Class, split string, i int) image.Image) error {
	dir := filepath.Join(root, "eurosat")
	split := map[string][][]any{}
	for _, s := range []struct {
		name string
		n    int
	}{{"train", n.Train}, {"val", n.Val}, {"test", n.Test}} {
		entries := [][]any{}
		for label, cl := range classes {
			for i := range s.n {
				rel := fmt.Sprintf("%s/%s_%s_%d.png", cl.Folder, cl.Folder, s.name, i)
				if err := WritePNG(filepath.Join(dir, "2750", filepath.FromSlash(rel)), img(cl, s.name, i)); err != nil {
					return err
				}
				entries = append(entries, []any{rel, label, cl.Name})
			}
		}
		split[s.name] = entries
	}
	b, err := json.Marshal(split)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "split_zhou_EuroSAT.json"), b, 0o644)
}

// WritePNG writes img to path as PNG, creating the directory.
func WritePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
