package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigill/addressing"
)

func runAddr(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("addr", `Usage: sigill addr [-config FILE] 'ADDRESS'

Prints what the gateway makes of a recipient address, as one line of JSON,
and exits 0; or prints the reply the SMTP server would give, and exits 1.
ADDRESS is a whole address (local@domain) or a bare local part, e.g.
  sigill addr '0701234567&login=199908072391&@secure.test'
  sigill addr 'anna.svensson=example.com&login=*'`, stdout, stderr)
	configPath := c.fs.String("config", "", "read the gateway's domains and addressing settings from this file (default: the dev settings, domain secure.test)")
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if code, done := c.wantArgs(positional, 1, "the ADDRESS to show"); done {
		return code
	}
	cfg, err := loadOrDev(*configPath, "")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	policy := addressingPolicy(cfg)
	address := positional[0]
	var r addressing.Recipient
	if strings.Contains(address, "@") {
		r, err = policy.Parse(address)
	} else {
		r, err = policy.ParseLocal(address)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	line, _ := json.Marshal(r)
	fmt.Fprintln(stdout, string(line))
	return 0
}
