package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cli is one command's flags and how it answers an admin who got them
// wrong: every command parses through it, so each takes its flags before,
// between or after its arguments (`sigill user add -config F ADDR` and
// `sigill user -config F add ADDR` alike), answers -h with its usage on
// standard output and exit 0, and a usage error with what was wrong, the
// usage on standard error, and exit 2.
type cli struct {
	name           string // "user", as in "sigill user"
	fs             *flag.FlagSet
	usage          string // the text before the flag list; it starts "Usage: sigill …"
	stdout, stderr io.Writer
}

func newCLI(name, usage string, stdout, stderr io.Writer) *cli {
	c := &cli{name: name, fs: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage, stdout: stdout, stderr: stderr}
	// The flag package's own messages and usage are replaced by parse's.
	c.fs.SetOutput(io.Discard)
	c.fs.Usage = func() {}
	return c
}

// parse parses args, flags anywhere among the positional arguments; "--"
// ends the flags. When the command should stop here, done is true and code
// is its exit status.
func (c *cli) parse(args []string) (positional []string, code int, done bool) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.stdout)
			return nil, 0, true
		}
		if err != nil {
			return nil, c.fail("%v", err), true
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return positional, 0, false
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(positional, rest...), 0, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// fail reports a usage error on standard error: what was wrong, the usage
// line, and where the rest is. It returns the exit status 2.
func (c *cli) fail(format string, args ...any) int {
	first, _, _ := strings.Cut(c.usage, "\n")
	fmt.Fprintf(c.stderr, "sigill %s: %s\n%s\n'sigill %s -h' explains the command and its flags.\n", c.name, fmt.Sprintf(format, args...), first, c.name)
	return 2
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprintln(w, strings.TrimRight(c.usage, "\n"))
	if hasFlags(c.fs) {
		fmt.Fprintln(w, "\nFlags:")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(io.Discard)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	any := false
	fs.VisitAll(func(*flag.Flag) { any = true })
	return any
}

// wantArgs is a usage error unless there are exactly n positional arguments;
// what names them for the message ("one ADDRESS").
func (c *cli) wantArgs(positional []string, n int, what string) (code int, done bool) {
	switch {
	case len(positional) < n:
		return c.fail("missing %s", what), true
	case len(positional) > n:
		return c.fail("unexpected argument %q", positional[n]), true
	}
	return 0, false
}

// parseFlagsOnly is parse for a command that takes flags and no arguments.
func (c *cli) parseFlagsOnly(args []string) (code int, done bool) {
	positional, code, done := c.parse(args)
	if done {
		return code, true
	}
	return c.wantArgs(positional, 0, "")
}
