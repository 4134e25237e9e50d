// Command sigill is the secure-message gateway: one binary with a
// subcommand for each thing an admin or a developer does. It only wires the
// packages together; run.go shows the path a message takes.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"serve":            {"run the gateway from a configuration file (production)", runServe},
	"dev":              {"run the whole gateway on loopback with built-in defaults", runDev},
	"bankid-simulator": {"run the BankID simulator alone, for staging and tests (loopback)", runBankIDSimulator},
	"addr":             {"show what the gateway makes of a recipient address", runAddr},
	"check-config":     {"validate a configuration file and its certificates", runCheckConfig},
	"user":             {"manage staff accounts: add, passwd, list, remove", runUser},
	"apikey":           {"manage REST API keys: create, list, revoke", runAPIKey},
	"vault":            {"inspect the vault: stats, backup, verify", runVault},
	"version":          {"print the version, the commit and the Go version", runVersion},
	"message":          {"change a message: expire (shorten or extend its lifetime), revoke (withdraw it)", runMessage},
	"audit":            {"export the audit trail: of a period, or of one personal number", runAudit},
	"gdpr":             {"a person's data by personal number: export, erase, approve", runGDPR},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "sigill: missing the COMMAND\n\n")
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-version", "--version":
		return runVersion(nil, stdin, stdout, stderr)
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return dispatch([]string{args[1], "-h"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	name, rest := splitCommand(args)
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "sigill: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd.run(rest, stdin, stdout, stderr)
}

// splitCommand finds the command among args, so that flags written before
// it (`sigill -config F user add ADDR`) count as the command's own: every
// command takes its flags anywhere among its arguments.
func splitCommand(args []string) (name string, rest []string) {
	for i, a := range args {
		if _, ok := commands[a]; ok && (i == 0 || strings.HasPrefix(args[0], "-")) {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
	}
	return args[0], args[1:]
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sigill is a secure-message e-mail gateway.\n\nUsage: sigill COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-17s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\n`sigill COMMAND -h` (or `sigill help COMMAND`) explains a command; its flags\ngo before or after its arguments.")
}
