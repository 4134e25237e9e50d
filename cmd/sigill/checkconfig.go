package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"sigill/config"
)

func runCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("check-config", `Usage: sigill check-config [-config FILE]

Reads the file as 'sigill serve' does, with the secret files its *_file keys
name, the certificates and keys it points at, and makes the same checks:
what serve would refuse, check-config names. Prints OK, or every fault with
the key it is at, and exits 1 on a fault. Warns when a certificate ends
within 30 days.`, stdout, stderr)
	path := c.fs.String("config", "/etc/sigill/sigill.toml", "the configuration file to check")
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	_, warnings, err := config.LoadForServe(*path, time.Now())
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if err != nil {
		var faults config.Faults
		if errors.As(err, &faults) {
			fmt.Fprintf(stderr, "%s: %d fault(s):\n", *path, len(faults))
			for _, f := range faults {
				fmt.Fprintln(stderr, "  "+f.String())
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	fmt.Fprintln(stdout, "OK", *path)
	return 0
}
