package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"sigill/config"
)

func runCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/sigill/sigill.toml", "the configuration file to check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: sigill check-config [-config FILE]

Reads the file as 'sigill serve' would, with the secret files its *_file keys
name and the certificates it points at. Prints OK, or every fault with the key
it is at, and exits 1 on a fault. Warns when a certificate ends within 30 days.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err == nil {
		var warnings []string
		warnings, err = cfg.CheckCertificates(time.Now())
		warnings = append(warnings, cfg.Warnings()...)
		for _, w := range warnings {
			fmt.Fprintln(stdout, "warning:", w)
		}
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
