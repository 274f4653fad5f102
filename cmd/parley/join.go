package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parleychat/parley/chat"

	"github.com/charmbracelet/x/term"

	"github.com/parleychat/parley/client"
	"github.com/parleychat/parley/client/plain"
	"github.com/parleychat/parley/tui"
)

func init() {
	register("join", "chat: full-screen terminal client (plain line mode when not on a terminal)", join)
}

// joinOptions are the flags of parley join.
type joinOptions struct {
	addr     string
	plain    bool
	rooms    string
	password string
	timeout  time.Duration
	tls      bool
	insecure bool
}

// joinIO is what join talks to; tests replace it.
var joinIO = struct {
	stdin       io.Reader
	isTerminal  func() bool
	runTUI      func(ctx context.Context, c *client.Client) error
	plainOption plain.Options
}{
	stdin: os.Stdin,
	isTerminal: func() bool {
		return term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd())
	},
	runTUI: func(ctx context.Context, c *client.Client) error { return tui.Run(ctx, c) },
}

func join(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley join", flag.ContinueOnError)
	o := &joinOptions{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:1234", "server address (framed protocol); several, comma-separated, for the nodes of a cluster: tried in turn when one cannot be reached")
	fs.BoolVar(&o.plain, "plain", false, "line mode: read lines from stdin, print one line per event (default when stdin or stdout is not a terminal)")
	fs.StringVar(&o.rooms, "room", "", "rooms to join besides the lobby, comma-separated")
	fs.StringVar(&o.password, "password", "", "your account's password if your name is registered, else the server password if it needs one (prefer PARLEY_PASSWORD: arguments are visible to other local users)")
	fs.BoolVar(&o.tls, "tls", false, "connect over TLS (the server runs with -tls-cert)")
	fs.BoolVar(&o.insecure, "insecure", false, "with -tls: accept any certificate, e.g. a self-signed one (anyone in between can read and change the chat)")
	fs.DurationVar(&o.timeout, "dial-timeout", 5*time.Second, "how long to try to reach the server at start")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley join NAME [flags]")
		fs.PrintDefaults()
	}
	// The name comes first (parley join alice --room dev); flag parsing
	// stops at the first non-flag, so take it out before parsing.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if len(args) > 0 {
		for i, a := range args {
			if !strings.HasPrefix(a, "-") && (i == 0 || !needsValue(args[i-1])) {
				name = a
				args = append(append([]string{}, args[:i]...), args[i+1:]...)
				break
			}
		}
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if name == "" {
		name = os.Getenv("PARLEY_NAME")
	}
	if name == "" {
		fmt.Fprintln(stderr, "parley join: a name is needed: parley join NAME")
		fs.Usage()
		return errUsage
	}
	var rooms []string
	for _, r := range strings.Split(o.rooms, ",") {
		if r = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), "#")); r != "" {
			rooms = append(rooms, r)
		}
	}
	usePlain := o.plain || !joinIO.isTerminal()
	addrs := strings.Split(o.addr, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	cfg := client.Config{Addr: addrs[0], Others: addrs[1:], Name: name, Rooms: rooms, Password: o.password, DialTimeout: o.timeout, Client: "parley-join"}
	if o.insecure && !o.tls {
		fmt.Fprintln(stderr, "parley join: -insecure only makes sense with -tls")
		return errUsage
	}
	if o.tls {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} //nolint:gosec // only when asked for
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		var se *client.ServerError
		if errors.As(err, &se) {
			hint := ""
			if se.Code == string(chat.CodeNameRegistered) {
				hint = "\nif it is your account, give its password: PARLEY_PASSWORD=... parley join " + name + " (or --password)"
			}
			return fmt.Errorf("the server at %s refused to let you in: %s%s", o.addr, se.Message, hint)
		}
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		var hostname x509.HostnameError
		if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) {
			return fmt.Errorf("%w\nthe server's certificate is not trusted here (a self-signed one?): install it, or, if you accept that anyone in between could read and change the chat, connect with --insecure", err)
		}
		if o.tls && errors.As(err, new(tls.RecordHeaderError)) {
			return fmt.Errorf("%w\nthe server does not speak TLS on %s: leave out --tls, or use its TLS port", err, o.addr)
		}
		return err
	}
	defer c.Close()
	if !usePlain {
		return joinIO.runTUI(ctx, c)
	}
	err = plain.Run(ctx, c, joinIO.stdin, stdout, joinIO.plainOption)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// needsValue reports whether a flag argument takes the next argument as its
// value (-addr X), so that X is not mistaken for the name.
func needsValue(a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	switch strings.TrimLeft(a, "-") {
	case "addr", "room", "password", "dial-timeout":
		return true
	}
	return false
}
