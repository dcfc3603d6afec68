package clip

//go:generate sh -c "python3 testdata/gen_html5_entities.py > ftfy_entities.go && gofmt -w ftfy_entities.go"

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// fixText reproduces ftfy.fix_text (ftfy 6.3.1, default configuration)
// except for its mojibake heuristic (fix_encoding and the steps that only run
// inside it: restore_byte_a0, replace_lossy_sequences,
// decode_inconsistent_utf8), which guesses at text that was decoded with the
// wrong codec. Every other step is deterministic and implemented exactly
// (docs/clip.md §3.3):
//
// The text is processed per line ('\n' kept with its line). Each line is
// passed through the fixers below until it stops changing. HTML entities are
// decoded only until the first line that contains '<' (ftfy's
// unescape_html="auto" switches the option off for that line and all later
// ones). fix_surrogates has no Go equivalent: Go strings cannot hold
// surrogate code points.
func fixText(text string) string {
	if isPlainASCII(text) {
		// None of the steps changes printable ASCII without '&' or ESC.
		return text
	}
	var out strings.Builder
	out.Grow(len(text))
	unescape := true
	for len(text) > 0 {
		n := strings.IndexByte(text, '\n') + 1
		if n == 0 {
			n = len(text)
		}
		seg := text[:n]
		text = text[n:]
		if unescape && strings.Contains(seg, "<") {
			unescape = false
		}
		out.WriteString(fixSegment(seg, unescape))
	}
	return out.String()
}

// isPlainASCII reports whether s is printable ASCII plus space, with no '&'.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '&' {
			return false
		}
	}
	return true
}

// fixSegment is ftfy's fix_and_explain loop for one line.
func fixSegment(text string, unescape bool) string {
	for {
		orig := text
		if unescape {
			text = ftfyUnescapeHTML(text)
		}
		// fix_encoding (mojibake heuristic): not implemented.
		text = fixC1Controls(text)
		text = ftfyReplacer.Replace(text) // ligatures, width, quotes, line breaks
		text = removeTerminalEscapes(text)
		text = removeControlChars(text)
		text = norm.NFC.String(text)
		if text == orig {
			return text
		}
	}
}

// ftfyUnescapeHTML is ftfy.fixes.unescape_html: only complete references
// matching &#?[0-9A-Za-z]{1,24}; are decoded; named ones through
// html.entities.html5 plus upper-cased variants; numeric ones through
// html.unescape, kept as they are if the ';' was not consumed.
func ftfyUnescapeHTML(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	i := 0
	for {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		b.WriteString(s[i : i+j])
		i += j
		// Match &#?[0-9A-Za-z]{1,24};
		k := i + 1
		numeric := k < len(s) && s[k] == '#'
		if numeric {
			k++
		}
		start := k
		for k < len(s) && k-start < 24 && isASCIIAlnum(s[k]) {
			k++
		}
		if k == start || k >= len(s) || s[k] != ';' {
			b.WriteByte('&')
			i++
			continue
		}
		k++
		ref := s[i:k]
		name := s[i+1 : k]
		switch {
		case !numeric && html5Entities[name] != "" && strings.HasSuffix(name, ";"):
			b.WriteString(html5Entities[name])
		case !numeric && ftfyUpperEntities[name] != "":
			b.WriteString(ftfyUpperEntities[name])
		case numeric:
			if u := pyHTMLUnescape(ref); strings.Contains(u, ";") {
				b.WriteString(ref)
			} else {
				b.WriteString(u)
			}
		default:
			b.WriteString(ref)
		}
		i = k
	}
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// sloppyWindows1252 maps bytes 0x80–0x9F as ftfy's "sloppy-windows-1252"
// codec: Windows-1252, with its five undefined bytes kept as C1 controls.
var sloppyWindows1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
}

// fixC1Controls is ftfy.fixes.fix_c1_controls: U+0080–U+009F decoded as
// sloppy Windows-1252.
func fixC1Controls(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 && r <= 0x9f }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= 0x80 && r <= 0x9f {
			return sloppyWindows1252[r-0x80]
		}
		return r
	}, s)
}

// ftfyReplacer applies, in one pass, fix_latin_ligatures, then
// fix_character_width (U+FF01–U+FFEF to their NFKC form, U+3000 to space),
// then uncurl_quotes, then fix_line_breaks. The tables do not interact
// except through ŉ → ʼn, whose U+02BC uncurl_quotes turns into "'"; the
// replacer therefore maps ŉ straight to "'n".
var ftfyReplacer = buildFtfyReplacer()

func buildFtfyReplacer() *strings.Replacer {
	pairs := []string{
		"\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n",
		"Ĳ", "IJ", "ĳ", "ij", "ŉ", "'n", "Ǳ", "DZ", "ǲ", "Dz", "ǳ", "dz",
		"Ǆ", "DŽ", "ǅ", "Dž", "ǆ", "dž", "Ǉ", "LJ", "ǈ", "Lj", "ǉ", "lj",
		"Ǌ", "NJ", "ǋ", "Nj", "ǌ", "nj", "ﬀ", "ff", "ﬁ", "fi", "ﬂ", "fl",
		"ﬃ", "ffi", "ﬄ", "ffl", "ﬅ", "ſt", "ﬆ", "st",
		"\u3000", " ",
		"\u02bc", "'", "\u2018", "'", "\u2019", "'", "\u201a", "'", "\u201b", "'",
		"\u201c", "\"", "\u201d", "\"", "\u201e", "\"", "\u201f", "\"",
	}
	for r := rune(0xff01); r < 0xfff0; r++ {
		c := string(r)
		if alt := norm.NFKC.String(c); alt != c {
			// Fullwidth forms map to ASCII or halfwidth forms, none of which
			// is a curly quote or a line break.
			pairs = append(pairs, c, alt)
		}
	}
	return strings.NewReplacer(pairs...)
}

// removeTerminalEscapes is ftfy.fixes.remove_terminal_escapes: deletes
// ANSI sequences matching \x1b\[((?:\d|;)*)([a-zA-Z]).
func removeTerminalEscapes(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + 2
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
			j++
		}
		if j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			b.WriteString(s[:i])
			s = s[j+1:]
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
}

// removeControlChars is ftfy.fixes.remove_control_chars.
func removeControlChars(s string) string {
	isCtl := func(r rune) bool {
		return r <= 0x08 || r == 0x0b || (r >= 0x0e && r <= 0x1f) || r == 0x7f ||
			(r >= 0x206a && r <= 0x206f) || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffc)
	}
	if !strings.ContainsFunc(s, isCtl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isCtl(r) {
			return -1
		}
		return r
	}, s)
}
