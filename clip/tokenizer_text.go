package clip

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the text side of CLIP's simple_tokenizer: the cleaning
// steps (basic_clean, whitespace_clean), Python's str.lower, html.unescape,
// and the split pattern, each reproducing the Python behaviour rather than
// Go's (docs/clip.md §3.2).

// cleanText applies CLIP's whitespace_clean(basic_clean(text)).lower().
func cleanText(text string) string {
	text = fixText(text)                        // ftfy.fix_text
	text = pyHTMLUnescape(pyHTMLUnescape(text)) // html.unescape twice
	text = strings.TrimFunc(text, pyIsSpace)    // str.strip
	text = collapseSpace(text)                  // regex \s+ -> ' '
	text = strings.TrimFunc(text, pyIsSpace)    // str.strip
	return pyLower(text)                        // str.lower
}

// pyIsSpace reports whether Python's str.isspace holds for r: Unicode
// White_Space plus the information separators U+001C–U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// collapseSpace replaces every run of regex-module \s (Unicode White_Space,
// which is Go's unicode.IsSpace) by one ASCII space.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inSpace := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return b.String()
}

// pyLower is Python's str.lower: the simple lower-case mapping of each code
// point, except U+0130 (İ → "i̇", two code points, from SpecialCasing.txt)
// and capital sigma, which becomes final sigma ς in the Final_Sigma context.
// Go's strings.ToLower differs on exactly these two cases.
func pyLower(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range rs {
		switch {
		case r == 0x130:
			b.WriteString("i\u0307")
		case r == 0x3a3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is CPython's handle_capital_sigma: rs[i] is preceded by a cased
// letter (skipping case-ignorable characters) and not followed by one.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !isCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && isCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !isCased(rs[j])
}

// isCased is the Unicode derived property Cased.
func isCased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable is the Unicode derived property Case_Ignorable: general
// categories Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter, MidNumLet or
// Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case 0x27, // Single_Quote
		0x2e, 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e, // MidNumLet
		0x3a, 0xb7, 0x387, 0x55f, 0x5f4, 0x2027, 0xfe13, 0xfe55, 0xff1a: // MidLetter
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// pyInvalidCharrefs is Python's html._invalid_charrefs: numeric references
// that HTML5 remaps (mostly Windows-1252 for 0x80–0x9F).
var pyInvalidCharrefs = map[uint64]string{
	0x00: "\ufffd", 0x0d: "\r", 0x80: "\u20ac", 0x81: "\u0081", 0x82: "\u201a",
	0x83: "\u0192", 0x84: "\u201e", 0x85: "\u2026", 0x86: "\u2020", 0x87: "\u2021",
	0x88: "\u02c6", 0x89: "\u2030", 0x8a: "\u0160", 0x8b: "\u2039", 0x8c: "\u0152",
	0x8d: "\u008d", 0x8e: "\u017d", 0x8f: "\u008f", 0x90: "\u0090", 0x91: "\u2018",
	0x92: "\u2019", 0x93: "\u201c", 0x94: "\u201d", 0x95: "\u2022", 0x96: "\u2013",
	0x97: "\u2014", 0x98: "\u02dc", 0x99: "\u2122", 0x9a: "\u0161", 0x9b: "\u203a",
	0x9c: "\u0153", 0x9d: "\u009d", 0x9e: "\u017e", 0x9f: "\u0178",
}

// pyInvalidCodepoint reports membership in Python's html._invalid_codepoints
// (numeric references that html.unescape deletes).
func pyInvalidCodepoint(n uint64) bool {
	switch {
	case n >= 0x1 && n <= 0x8, n == 0xb, n >= 0xe && n <= 0x1f, n >= 0x7f && n <= 0x9f,
		n >= 0xfdd0 && n <= 0xfdef:
		return true
	}
	return n <= 0x10ffff && n&0xfffe == 0xfffe
}

// pyHTMLUnescape is Python's html.unescape: the regex
// &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) replaced left to
// right, numeric references with HTML5's fix-ups, named ones by the longest
// html5 entity prefix.
func pyHTMLUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		b.WriteString(s[i : i+j])
		i += j
		repl, n := charref(s[i:])
		if n == 0 {
			b.WriteByte('&')
			i++
			continue
		}
		b.WriteString(repl)
		i += n
	}
}

// charref decodes the reference at the start of s (s[0] == '&'), returning
// its replacement and the number of bytes consumed (0: no match).
func charref(s string) (string, int) {
	if len(s) >= 2 && s[1] == '#' {
		hex := len(s) >= 3 && (s[2] == 'x' || s[2] == 'X')
		start := 2
		if hex {
			start = 3
		}
		end := start
		var num uint64
		overflow := false
		for end < len(s) {
			c := s[end]
			var d uint64
			switch {
			case c >= '0' && c <= '9':
				d = uint64(c - '0')
			case hex && c >= 'a' && c <= 'f':
				d = uint64(c-'a') + 10
			case hex && c >= 'A' && c <= 'F':
				d = uint64(c-'A') + 10
			default:
				goto done
			}
			if hex {
				num = num*16 + d
			} else {
				num = num*10 + d
			}
			if num > 0x10ffff {
				overflow = true
				num = 0x110000
			}
			end++
		}
	done:
		if end == start {
			return "", 0 // "&#" or "&#x" without digits: no match
		}
		if end < len(s) && s[end] == ';' {
			end++
		}
		if overflow {
			return "\ufffd", end
		}
		if r, ok := pyInvalidCharrefs[num]; ok {
			return r, end
		}
		if (num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff {
			return "\ufffd", end
		}
		if pyInvalidCodepoint(num) {
			return "", end
		}
		return string(rune(num)), end
	}
	// Named: up to 32 characters outside "\t\n\f <&#;", then an optional ';'.
	end, count := 1, 0
	for end < len(s) && count < 32 {
		r, size := utf8.DecodeRuneInString(s[end:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		end += size
		count++
	}
	if count == 0 {
		return "", 0
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	name := s[1:end]
	if v, ok := html5Entities[name]; ok {
		return v, end
	}
	// Longest prefix of at least 2 characters (fewer than the whole name).
	rs := []rune(name)
	for x := len(rs) - 1; x > 1; x-- {
		if v, ok := html5Entities[string(rs[:x])]; ok {
			return v + string(rs[x:]), end
		}
	}
	return "&" + name, end
}

// splitPieces is findall of CLIP's pattern (regex module, IGNORECASE)
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// written as a scanner: at each position the alternatives are tried in
// order and the first that matches wins; characters matched by none (white
// space) are skipped. Case-insensitivity only matters for already lowered
// text through U+017F ſ, which folds to s.
//
// One more IGNORECASE effect, checked against regex 2022.10.31: U+0345
// COMBINING GREEK YPOGEGRAMMENI (Mn, case-folds to the letter ι) is excluded
// from the negated class [^\s\p{L}\p{N}] but not matched by [\p{L}], so no
// alternative matches it and it is skipped like white space.
func splitPieces(text string, fn func(piece string)) {
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '<' {
			if n := foldPrefix(text[i:], "<|startoftext|>"); n > 0 {
				fn(text[i : i+n])
				i += n
				continue
			}
			if n := foldPrefix(text[i:], "<|endoftext|>"); n > 0 {
				fn(text[i : i+n])
				i += n
				continue
			}
		}
		if r == '\'' {
			matched := false
			for _, c := range [...]string{"s", "t", "re", "ve", "m", "ll", "d"} {
				if n := foldPrefix(text[i+1:], c); n > 0 {
					fn(text[i : i+1+n])
					i += 1 + n
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		switch {
		case unicode.IsLetter(r):
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if !unicode.IsLetter(r2) {
					break
				}
				j += s2
			}
			fn(text[i:j])
			i = j
		case unicode.IsNumber(r):
			fn(text[i : i+size])
			i += size
		case unicode.IsSpace(r) || r == ypogegrammeni:
			i += size
		default:
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if unicode.IsSpace(r2) || unicode.IsLetter(r2) || unicode.IsNumber(r2) || r2 == ypogegrammeni {
					break
				}
				j += s2
			}
			fn(text[i:j])
			i = j
		}
	}
}

const ypogegrammeni = 0x345

// foldPrefix reports the byte length of the prefix of s that matches the
// ASCII pattern lit case-insensitively (0 if none). Besides ASCII case, ſ
// (U+017F) matches s and K (U+212A) matches k, as in simple case folding.
func foldPrefix(s, lit string) int {
	n := 0
	for k := 0; k < len(lit); k++ {
		if n >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[n:])
		c := rune(lit[k])
		switch {
		case r == c, r < utf8.RuneSelf && unicode.ToLower(r) == c:
		case c == 's' && r == 0x17f, c == 'k' && r == 0x212a:
		default:
			return 0
		}
		n += size
	}
	return n
}
