package asm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// avx512Only lists mnemonics (prefixes) that exist only with EVEX/AVX-512.
var avx512Only = []string{
	"VPXORD", "VPXORQ", "VPANDD", "VPANDQ", "VPORD", "VPORQ", "VPANDND", "VPANDNQ",
	"VMOVDQU32", "VMOVDQU64", "VMOVDQA32", "VMOVDQA64", "VMOVDQU8", "VMOVDQU16",
	"VEXTRACTF32X", "VEXTRACTF64X", "VINSERTF32X", "VINSERTF64X", "VBROADCASTF32X", "VBROADCASTF64X",
	"VRNDSCALE", "VSCALEF", "VGETEXP", "VGETMANT", "VREDUCE", "VFPCLASS", "VRANGE",
	"VPTERNLOG", "VPERMT2", "VPERMI2", "VCOMPRESS", "VEXPAND", "VPCOMPRESS", "VPEXPAND",
	"VRCP14", "VRSQRT14", "VCVTPS2UDQ", "VCVTUDQ2PS", "VPMOVD", "VPMOVQ", "VPBROADCASTMB",
	"KMOV", "KAND", "KOR", "KXOR", "KNOT", "KSHIFT", "KTEST", "KORTEST", "KADD", "KUNPCK",
}

var (
	zmmOrK = regexp.MustCompile(`\b(Z([0-9]|[12][0-9]|3[01])|K[1-7])\b`)
	ymmHi  = regexp.MustCompile(`\b[XY](1[6-9]|2[0-9]|3[01])\b`)
)

// TestISAScanner parses each amd64 tier's .s files and fails if a lower tier
// uses instructions or registers beyond its feature set: the AVX2 files
// must not touch ZMM, opmask or X/Y16-31 registers, EVEX-only mnemonics or
// EVEX suffixes. Every file that uses vector registers must VZEROUPPER
// before each RET.
func TestISAScanner(t *testing.T) {
	files, err := filepath.Glob("*_amd64.s")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .s files: %v", err)
	}
	sawAVX2 := false
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		avx2 := strings.Contains(f, "avx2")
		sawAVX2 = sawAVX2 || avx2
		vzero := false
		for ln, line := range strings.Split(string(src), "\n") {
			if i := strings.Index(line, "//"); i >= 0 {
				line = line[:i]
			}
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasSuffix(fields[0], ":") || fields[0] == "#include" || fields[0] == "TEXT" || fields[0] == "DATA" || fields[0] == "GLOBL" {
				continue
			}
			op := fields[0]
			switch op {
			case "VZEROUPPER":
				vzero = true
			case "RET":
				if !vzero {
					t.Errorf("%s:%d: RET without VZEROUPPER after vector code", f, ln+1)
				}
			}
			if strings.HasPrefix(op, "V") && op != "VZEROUPPER" {
				vzero = false
			}
			if !avx2 {
				continue
			}
			if strings.Contains(op, ".") {
				t.Errorf("%s:%d: EVEX suffix in AVX2 file: %s", f, ln+1, op)
			}
			for _, p := range avx512Only {
				if strings.HasPrefix(op, p) {
					t.Errorf("%s:%d: AVX-512 instruction in AVX2 file: %s", f, ln+1, op)
				}
			}
			if zmmOrK.MatchString(line) || ymmHi.MatchString(line) {
				t.Errorf("%s:%d: AVX-512 register in AVX2 file: %s", f, ln+1, strings.TrimSpace(line))
			}
		}
	}
	if !sawAVX2 {
		t.Fatal("no AVX2 assembly found")
	}
}
