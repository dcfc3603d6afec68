package clip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeVocabGz is OpenAI CLIP's clip/bpe_simple_vocab_16e6.txt.gz (MIT, see
// LICENSE-CLIP-BPE.txt): a header line, then BPE merges "A B", one a line.
//
//go:embed bpe_simple_vocab_16e6.txt.gz
var bpeVocabGz []byte

// Special token ids of the CLIP vocabulary.
const (
	SOTToken         = 49406 // <|startoftext|>
	EOTToken         = 49407 // <|endoftext|>
	VocabSize        = 49408
	ContextLength    = 77              // CLIP's text context length
	numMerges        = 49152 - 256 - 2 // merges kept from the file (lines 1 .. 48894)
	bpeCacheCapacity = 1 << 16         // entries kept in the BPE cache
)

// Tokenizer is CLIP's byte-level BPE tokenizer (simple_tokenizer.py). It is
// safe for concurrent use.
type Tokenizer struct {
	byteEncoder [256]rune      // byte → unicode char (§5.1)
	byteDecoder map[rune]byte  // inverse of byteEncoder
	encoder     map[string]int // token string → id
	decoder     []string       // id → token string
	ranks       map[string]int // "A B" → merge rank

	mu    sync.RWMutex
	cache map[string][]int // byte-mapped piece → ids
}

// NewTokenizer reads a gzip-compressed merges file in the format of
// bpe_simple_vocab_16e6.txt.gz and builds the tokenizer. Only the first
// 48,894 merges are used, as in CLIP.
func NewTokenizer(gz io.Reader) (*Tokenizer, error) {
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return nil, fmt.Errorf("clip: reading BPE merges: %w", err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var merges [][2]string
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header "#version: 0.2"
		}
		if len(merges) == numMerges {
			break
		}
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			return nil, fmt.Errorf("clip: BPE merges line %d: want 2 fields, got %d", line, len(f))
		}
		merges = append(merges, [2]string{f[0], f[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("clip: reading BPE merges: %w", err)
	}
	if len(merges) != numMerges {
		return nil, fmt.Errorf("clip: BPE merges file has %d merges, want %d", len(merges), numMerges)
	}
	return newTokenizer(merges), nil
}

func newTokenizer(merges [][2]string) *Tokenizer {
	t := &Tokenizer{
		byteDecoder: make(map[rune]byte, 256),
		encoder:     make(map[string]int, VocabSize),
		ranks:       make(map[string]int, len(merges)),
		cache:       make(map[string][]int),
	}
	// bytes_to_unicode: printable bytes map to themselves, the other 68 to
	// U+0100 onwards, in byte order; vocabulary order follows the printable
	// bytes first.
	var order []byte
	n := 0
	for b := 0; b < 256; b++ {
		if b >= 33 && b <= 126 || b >= 161 && b <= 172 || b >= 174 && b <= 255 {
			t.byteEncoder[b] = rune(b)
			order = append(order, byte(b))
		}
	}
	for b := 0; b < 256; b++ {
		if t.byteEncoder[b] == 0 {
			t.byteEncoder[b] = rune(256 + n)
			n++
			order = append(order, byte(b))
		}
	}
	for b := 0; b < 256; b++ {
		t.byteDecoder[t.byteEncoder[b]] = byte(b)
	}
	vocab := make([]string, 0, VocabSize)
	for _, b := range order {
		vocab = append(vocab, string(t.byteEncoder[b]))
	}
	for _, b := range order {
		vocab = append(vocab, string(t.byteEncoder[b])+"</w>")
	}
	for i, m := range merges {
		vocab = append(vocab, m[0]+m[1])
		t.ranks[m[0]+" "+m[1]] = i // later duplicates win, as dict(zip(...))
	}
	vocab = append(vocab, "<|startoftext|>", "<|endoftext|>")
	t.decoder = vocab
	for i, v := range vocab {
		t.encoder[v] = i
	}
	t.cache["<|startoftext|>"] = []int{SOTToken}
	t.cache["<|endoftext|>"] = []int{EOTToken}
	return t
}

var (
	defaultTok     *Tokenizer
	defaultTokErr  error
	defaultTokOnce sync.Once
)

// DefaultTokenizer returns the tokenizer built from the embedded CLIP merges
// file, loading it on first use.
func DefaultTokenizer() (*Tokenizer, error) {
	defaultTokOnce.Do(func() {
		defaultTok, defaultTokErr = NewTokenizer(bytes.NewReader(bpeVocabGz))
	})
	return defaultTok, defaultTokErr
}

// Tokenize runs [Tokenizer.Tokenize] with the default tokenizer.
func Tokenize(texts []string, contextLength int, truncate bool) ([][]int32, error) {
	t, err := DefaultTokenizer()
	if err != nil {
		return nil, err
	}
	return t.Tokenize(texts, contextLength, truncate)
}

// Encode returns the BPE ids of text, without start/end tokens, as CLIP's
// SimpleTokenizer.encode: the text is cleaned (ftfy, HTML unescape, white
// space, lower case), split into pieces, and each piece's UTF-8 bytes are
// merged by BPE. The literal strings <|startoftext|> and <|endoftext|> give
// their special ids. Invalid UTF-8 bytes are read as U+FFFD.
func (t *Tokenizer) Encode(text string) []int {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\ufffd")
	}
	var ids []int
	var buf []rune
	splitPieces(cleanText(text), func(piece string) {
		buf = buf[:0]
		for i := 0; i < len(piece); i++ {
			buf = append(buf, t.byteEncoder[piece[i]])
		}
		ids = append(ids, t.bpe(string(buf))...)
	})
	return ids
}

// bpe returns the ids of one byte-mapped piece, using the cache.
func (t *Tokenizer) bpe(token string) []int {
	t.mu.RLock()
	ids, ok := t.cache[token]
	t.mu.RUnlock()
	if ok {
		return ids
	}
	word := make([]string, 0, len(token))
	for _, r := range token {
		word = append(word, string(r))
	}
	if len(word) == 1 {
		// A one-character piece has no pairs: simple_tokenizer returns
		// token+'</w>' without caching it.
		return []int{t.encoder[word[0]+"</w>"]}
	}
	word[len(word)-1] += "</w>"
	for len(word) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[word[i]+" "+word[i+1]]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		first, second := word[best], word[best+1]
		merged := word[:0:0]
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == first && word[i+1] == second {
				merged = append(merged, first+second)
				i += 2
			} else {
				merged = append(merged, word[i])
				i++
			}
		}
		word = merged
	}
	ids = make([]int, len(word))
	for i, w := range word {
		ids[i] = t.encoder[w]
	}
	t.mu.Lock()
	if len(t.cache) < bpeCacheCapacity {
		t.cache[token] = ids
	}
	t.mu.Unlock()
	return ids
}

// Decode maps ids back to text as SimpleTokenizer.decode: token strings are
// joined, mapped back to bytes, decoded as UTF-8 (each maximal invalid
// sequence becomes U+FFFD, as Python's errors="replace"), and "</w>" becomes
// a space. Ids outside the vocabulary decode to U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var raw []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.decoder) {
			raw = append(raw, "\ufffd"...)
			continue
		}
		for _, r := range t.decoder[id] {
			raw = append(raw, t.byteDecoder[r])
		}
	}
	return strings.ReplaceAll(pyDecodeUTF8(raw), "</w>", " ")
}

// pyDecodeUTF8 decodes b like Python's bytes.decode("utf-8", "replace"):
// each maximal subpart of an ill-formed sequence becomes one U+FFFD.
func pyDecodeUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			sb.WriteRune(r)
			b = b[size:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return sb.String()
}

// maximalSubpart returns the length (≥ 1) of the longest prefix of b that
// starts a well-formed UTF-8 sequence (b itself is not one).
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c == 0xed:
		need, hi = 2, 0x9f
	case c >= 0xe1 && c <= 0xef:
		need = 2
	case c == 0xf0:
		need, lo = 3, 0x90
	case c == 0xf4:
		need, hi = 3, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xbf
		n++
	}
	return n
}

// Tokenize is clip.tokenize: one row of contextLength ids per text, holding
// SOT, the ids of Encode(text), EOT, then zeros. A text whose row would not
// fit is an error unless truncate is set; then the row keeps its first
// contextLength ids and the last one is replaced by EOT.
func (t *Tokenizer) Tokenize(texts []string, contextLength int, truncate bool) ([][]int32, error) {
	if contextLength <= 0 {
		return nil, fmt.Errorf("clip: tokenize: context length %d is not positive", contextLength)
	}
	rows := make([][]int32, len(texts))
	flat := make([]int32, len(texts)*contextLength)
	for i, text := range texts {
		ids := t.Encode(text)
		row := flat[i*contextLength : (i+1)*contextLength : (i+1)*contextLength]
		n := len(ids) + 2
		if n > contextLength {
			if !truncate {
				return nil, fmt.Errorf("clip: tokenize: text %d %s has %d tokens with SOT/EOT, more than the context length %d",
					i, quoteAbbrev(text, 60), n, contextLength)
			}
			n = contextLength
		}
		row[0] = SOTToken
		for j := 1; j < n; j++ {
			if j-1 < len(ids) {
				row[j] = int32(ids[j-1])
			}
		}
		row[n-1] = EOTToken
		rows[i] = row
	}
	return rows, nil
}

// quoteAbbrev quotes s, keeping at most max runes (with "…" when cut).
func quoteAbbrev(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	rs := []rune(s)
	return fmt.Sprintf("%q…", string(rs[:max]))
}
