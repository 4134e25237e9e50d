package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("user", `Usage: sigill user add|passwd|list|remove [ADDRESS] [-config FILE | -data DIR]

Staff accounts log in to SMTP submission and IMAP with their e-mail address
and a password (stored as an argon2id hash).
  add ADDRESS      create an account; asks for the password
  passwd ADDRESS   set a new password
  list             list the accounts
  remove ADDRESS   delete an account
The password is asked for on the terminal, or read as the first line of
standard input when that is not a terminal. While sigill runs, the change
goes through its admin listener and takes effect at once.`, stdout, stderr)
	where := vaultFlags(c.fs)
	positional, code, done := c.parse(args)
	if done {
		return code
	}
	if len(positional) == 0 {
		return c.fail("missing what to do: add, passwd, list or remove")
	}
	verb, rest := positional[0], positional[1:]
	wantArgs := map[string]int{"add": 1, "passwd": 1, "remove": 1, "list": 0}
	n, ok := wantArgs[verb]
	if !ok {
		return c.fail("%q is not something user does; write add, passwd, list or remove", verb)
	}
	what := "the ADDRESS of the account"
	if code, done := c.wantArgs(rest, n, what); done {
		return code
	}
	v, err := where.accounts()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer v.Close()

	switch verb {
	case "list":
		accounts, err := v.Accounts()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, a := range accounts {
			fmt.Fprintf(stdout, "%s\tcreated %s\n", a.Address, a.Created.Format(time.DateOnly))
		}
		return 0
	case "remove":
		err = v.RemoveAccount(rest[0])
	case "add", "passwd":
		var password string
		password, err = readPassword(stdin, stderr)
		if err == nil && verb == "add" {
			err = v.AddAccount(rest[0], password)
		} else if err == nil {
			err = v.SetPassword(rest[0], password)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sigill user %s %s: %v\n", verb, rest[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: done (%s)\n", rest[0], verb)
	return 0
}

const minPasswordLength = 12

func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	var password string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprint(stderr, "\nAgain: ")
		second, err2 := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err = errors.Join(err, err2); err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ")
		}
		password = string(first)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("no password on standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if len(password) < minPasswordLength {
		return "", fmt.Errorf("the password has %d characters; use at least %d", len(password), minPasswordLength)
	}
	return password, nil
}
