package cocoop

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docFiles are the chapters and the README, whose names the tests below
// check.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	root := ".."
	paths, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(root, "README.md"))
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

// TestDocsFiles: every repository file a chapter or the README names
// ("asm/gemm.go", "docs/sgemm.md", "figures/sgemm.png" beside a chapter)
// exists, so that a rename or a removal fails here rather than on a
// reader.
func TestDocsFiles(t *testing.T) {
	root := ".."
	file := regexp.MustCompile(`(?:^|[\s(\x60"'\[])((?:[a-z0-9_.-]+/)+[A-Za-z0-9_.-]+\.(?:go|s|py|md|png|json|txt\.gz|sh))\b`)
	n := 0
	for doc, text := range docFiles(t) {
		for _, m := range file.FindAllStringSubmatch(text, -1) {
			p := m[1]
			// runs/: outputs of the docs' commands; trainers/: the official
			// CoOp code the docs compare with.
			if strings.HasPrefix(p, "runs/") || strings.HasPrefix(p, "trainers/") || strings.Contains(p, "…") {
				continue
			}
			n++
			cands := []string{filepath.Join(root, p), filepath.Join(filepath.Dir(doc), p)}
			found := false
			for _, c := range cands {
				if _, err := os.Stat(c); err == nil {
					found = true
				}
			}
			if !found && !generatedByDoc(text, p) {
				t.Errorf("%s names %s, which does not exist", doc, p)
			}
		}
	}
	if n < 50 {
		t.Errorf("found only %d file names in the docs; the pattern no longer matches", n)
	}
	t.Logf("%d file names checked", n)
}

// generatedByDoc reports whether the document makes path itself (an
// output of a command it gives, such as --out DIR or -json FILE).
func generatedByDoc(text, path string) bool {
	for _, flag := range []string{"-json ", "--out ", "-out ", "> "} {
		if strings.Contains(text, flag+path) {
			return true
		}
	}
	return strings.Contains(path, "$") || strings.HasPrefix(path, "sgemm.json")
}

// exported collects a package's exported top-level names, methods
// (Type.Method) and struct fields (Type.Field) from its non-test files.
func exported(t *testing.T, dir string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File // every non-test file, whatever its build tags
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	names := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok && ast.IsExported(id.Name) {
					names[id.Name+"."+d.Name.Name] = true
					// `clip.EncodeTextShared` for the method of
					// clip.CLIP: the docs' shorthand for a method
					// of the package's main type.
					names["method:"+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fl := range st.Fields.List {
								for _, n := range fl.Names {
									names[s.Name.Name+"."+n.Name] = true
								}
								if len(fl.Names) == 0 { // embedded: its name
									ft := fl.Type
									if se, ok := ft.(*ast.StarExpr); ok {
										ft = se.X
									}
									if sel, ok := ft.(*ast.SelectorExpr); ok {
										names[s.Name.Name+"."+sel.Sel.Name] = true
									} else if id, ok := ft.(*ast.Ident); ok {
										names[s.Name.Name+"."+id.Name] = true
									}
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names
}

// TestDocsIdentifiers: every `pkg.Name` or `pkg.Type.Member` in backticks
// in a chapter or the README, for a package of this repository, names an
// exported function, type, variable, method or field that exists
// (`pkg.Method` may name a method of one of pkg's exported types).
func TestDocsIdentifiers(t *testing.T) {
	pkgDirs := map[string]string{
		"tensor": "../tensor", "autograd": "../autograd", "nn": "../nn", "clip": "../clip",
		"cocoop": ".", "asm": "../asm", "plot": "plot", "optim": "../nn/optim", "data": "data", "ckpt": "../clip/ckpt",
	}
	cache := map[string]map[string]bool{}
	ident := regexp.MustCompile("`([a-z]+)\\.([A-Z][A-Za-z0-9]*)(?:\\.([A-Z][A-Za-z0-9]*))?(?:\\([^`]*\\))?`")
	n := 0
	for doc, text := range docFiles(t) {
		for _, m := range ident.FindAllStringSubmatch(text, -1) {
			dir, ok := pkgDirs[m[1]]
			if !ok {
				continue
			}
			if cache[dir] == nil {
				cache[dir] = exported(t, dir)
			}
			name := m[2]
			if m[3] != "" {
				name += "." + m[3]
			}
			n++
			if !cache[dir][name] && (m[3] != "" || !cache[dir]["method:"+name]) {
				t.Errorf("%s names `%s.%s`, which package %s does not export", doc, m[1], name, m[1])
			}
		}
	}
	if n < 30 {
		t.Errorf("found only %d identifiers in the docs; the pattern no longer matches", n)
	}
	t.Logf("%d identifiers checked", n)
}
