// Command cocoop is GoCoOp's command line: CoCoOp and CoOp training
// (train, base2new), evaluation (eval, zero-shot CLIP included), gradient
// inspection (inspect), CLIP feature extraction (encode), zero-shot
// classification of images (zeroshot) and tokenization (tokenize).
//
// Usage:
//
//	cocoop <command> [flags] [arguments]
//
// Run "cocoop help" for the list of commands and "cocoop <command> --help"
// for one command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/gocoop/gocoop/tensor"
)

// command is one subcommand: its one-line summary, its usage text, and its
// body, which parses args with fs and writes results to stdout.
type command struct {
	summary string
	usage   string // after "cocoop <name> "
	help    string // longer explanation printed by --help
	run     func(fs *flag.FlagSet, args []string, stdout io.Writer) error
}

var commands = map[string]*command{}

func register(name string, c *command) { commands[name] = c }

func main() {
	tensor.SetGCDefaults() // GOGC 20 unless GOGC is set (README, "Memory")
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code:
// 0 on success, 1 when the command failed, 2 on a usage error, 130
// (exitInterrupted) when Ctrl-C stopped it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if _, ok := commands[args[1]]; !ok {
				fmt.Fprintf(stderr, "cocoop help: unknown command %q\n\n", args[1])
				printUsage(stderr)
				return 2
			}
			// The flags are defined by the command's body: run it for --help.
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	name := args[0]
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "cocoop: unknown command %q\n\n", name)
		printUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("cocoop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // run prints the help (stdout) or the error (stderr), once
	err := c.run(fs, args[1:], stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		printCommandHelp(stdout, name, c, fs)
		fs.SetOutput(stderr)
		return 0
	case errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "cocoop %s: %v\n", name, err)
		return exitInterrupted
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "cocoop %s: %v\n(run \"cocoop %s --help\" for usage)\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "cocoop %s: %v\n", name, err)
		return 1
	}
}

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitInterrupted is the exit code of a run stopped by Ctrl-C: 128+SIGINT,
// what a shell reports for a process killed by the signal.
const exitInterrupted = 130

// errInterrupted marks a run stopped by Ctrl-C (exit code 130).
var errInterrupted = errors.New("interrupted")

// parseFlags parses args with fs, turning flag errors into usage errors.
// The flag package's own messages are silenced: run prints the error or
// the help once.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "cocoop: CLIP, CoOp and CoCoOp in pure Go.\n\nUsage:\n  cocoop <command> [flags] [arguments]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun \"cocoop <command> --help\" for a command's flags.\n")
}

func printCommandHelp(w io.Writer, name string, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cocoop %s %s\n\n%s\n", name, c.usage, c.help)
	if fs != nil {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
