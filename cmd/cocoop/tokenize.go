package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/gocoop/gocoop/clip"
)

func init() {
	register("tokenize", &command{
		summary: "print CLIP token ids (77 per text) as JSON arrays",
		usage:   "[--truncate] [--] TEXT...",
		help: `Tokenizes each TEXT with CLIP's BPE tokenizer exactly as clip.tokenize does:
start-of-text (49406), the BPE ids, end-of-text (49407), zero padding to 77.
Prints one line per text: a JSON array of the 77 ids.

A text longer than 75 tokens is an error unless --truncate is given, in which
case it is cut and its last id forced to end-of-text. Put "--" before texts
that begin with "-".

Example:
  cocoop tokenize "a photo of a dog."`,
		run: runTokenize,
	})
}

func runTokenize(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	truncate := fs.Bool("truncate", false, "cut texts longer than the context instead of failing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	texts := fs.Args()
	if len(texts) == 0 {
		return usagef("no TEXT given")
	}
	rows, err := clip.Tokenize(texts, clip.ContextLength, *truncate)
	if err != nil {
		return err
	}
	for _, row := range rows {
		line, err := json.Marshal(row)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
			return err
		}
	}
	return nil
}
