// Command sigill is the secure-message gateway: one binary with a
// subcommand for each thing an admin or a developer does. It only wires the
// packages together; run.go shows the path a message takes.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
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
	"vault":            {"inspect the vault: stats, backup, verify", runVault},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sigill: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd.run(args[1:], stdin, stdout, stderr)
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
	fmt.Fprintln(w, "\n`sigill COMMAND -h` explains a command's flags.")
}
