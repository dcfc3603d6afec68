package cocoop

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsReferences: every "docs/NAME.md §N" that the repository's code,
// scripts and documents point to names a chapter that exists and a section
// heading ("## N." or "### N ") in it, so that comments never send a reader
// to a place that is gone.
func TestDocsReferences(t *testing.T) {
	root := filepath.Join("..")
	ref := regexp.MustCompile(`docs/([a-z_]+\.md)\)? ((?:§\d+(?:\.\d+)?(?:–\d+(?:\.\d+)?)?(?:, |–)?)+)`)
	sec := regexp.MustCompile(`§?(\d+(?:\.\d+)?)`)
	headings := map[string]map[string]bool{}
	sections := func(doc string) map[string]bool {
		if h, ok := headings[doc]; ok {
			return h
		}
		b, err := os.ReadFile(filepath.Join(root, "docs", doc))
		if err != nil {
			headings[doc] = nil
			return nil
		}
		h := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^#{2,3} (\d+(?:\.\d+)?)[. ]`).FindAllStringSubmatch(string(b), -1) {
			h[m[1]] = true
		}
		headings[doc] = h
		return h
	}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".py", ".md", ".s":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			h := sections(m[1])
			if h == nil {
				t.Errorf("%s: points to docs/%s, which does not exist", path, m[1])
				continue
			}
			for _, s := range sec.FindAllStringSubmatch(m[2], -1) {
				n++
				if !h[s[1]] {
					t.Errorf("%s: points to docs/%s §%s, which has no such section", path, m[1], s[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("found only %d section references; the pattern no longer matches the comments", n)
	}
	t.Logf("%d section references checked", n)
}
