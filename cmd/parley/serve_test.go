package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/wire/native"
)

// startServe runs `parley serve args...` in-process on port 0 and returns
// the framed and line addresses; the server stops when the test ends.
func startServe(t *testing.T, args ...string) (frameAddr, lineAddr net.Addr) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args = append([]string{"serve", "--frame-listen", "127.0.0.1:0", "--line-listen", "127.0.0.1:0",
		"--name-dialect-listen", "off", "--welcome-dialect-listen", "off", "--http-listen", "off", "--store", "memory", "--log-level", "error"}, args...)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("parley serve exited %d: %s", code, stderr)
		}
	})
	re := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`)
	testkit.Eventually(t, "serve to print its addresses", func() bool { return strings.Count(stdout.String(), "\n") >= 2 })
	addrs := re.FindAllStringSubmatch(stdout.String(), -1)
	if len(addrs) < 2 {
		t.Fatalf("addresses not printed: %q", stdout)
	}
	f, _ := net.ResolveTCPAddr("tcp", addrs[0][1])
	l, _ := net.ResolveTCPAddr("tcp", addrs[1][1])
	return f, l
}

func TestServeHistoryFlag(t *testing.T) {
	tests := []struct {
		flag    []string
		replays bool
	}{
		{nil, true},
		{[]string{"--history", "0"}, false},
		{[]string{"--history", "1"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"history"}, tt.flag...), " "), func(t *testing.T) {
			frameAddr, lineAddr := startServe(t, tt.flag...)
			watcher := testkit.DialNative(t, frameAddr, "watcher")
			watcher.ExpectType("welcome")
			alice := testkit.DialLine(t, lineAddr, "alice")
			alice.Send("remember me")
			// Delivered means stored: bob, who comes next, can only get it
			// as history (or, with --history 0, not at all).
			watcher.Expect("alice's message", func(ev native.Event) bool { return ev.Type == "say" && ev.Text == "remember me" })
			bob := testkit.DialLine(t, lineAddr, "bob")
			// The replay comes right after the join; a /who after it
			// marks where it has ended.
			bob.Send("/who")
			lines := bob.Until("members of lobby")
			replayed := false
			for _, l := range lines {
				replayed = replayed || strings.Contains(l, "(history)") && strings.Contains(l, "<alice> remember me")
			}
			if replayed != tt.replays {
				t.Fatalf("replayed = %v, want %v; bob saw %q", replayed, tt.replays, lines)
			}
		})
	}
}

// serveOutput runs `parley serve args...` in-process until it has printed
// its addresses, and returns what it printed; the server stops at the end
// of the test.
func serveOutput(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--store", "memory", "--log-level", "error", "--name-dialect-listen", "off", "--welcome-dialect-listen", "off", "--http-listen", "off"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("parley serve exited %d: %s", code, stderr)
		}
	})
	testkit.Eventually(t, "serve to start", func() bool { return strings.Contains(stdout.String(), "press Ctrl-C") })
	return stdout.String()
}

// TestServeEnvAndConfig: every flag has a PARLEY_* variable, an empty one
// sets its flag empty (turning a port off), and a -config file sets flags
// below the environment and the command line.
func TestServeEnvAndConfig(t *testing.T) {
	t.Run("empty variable turns the line port off", func(t *testing.T) {
		t.Setenv("PARLEY_LINE_LISTEN", "")
		out := serveOutput(t, "--frame-listen", "127.0.0.1:0")
		if strings.Contains(out, "line protocol") || !strings.Contains(out, "framed protocol") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("off turns a port off", func(t *testing.T) {
		out := serveOutput(t, "--frame-listen", "127.0.0.1:0", "--line-listen", "off")
		if strings.Contains(out, "line protocol") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("config file", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "parley.conf")
		body := "# a config file\nframe-listen 127.0.0.1:0\nline-listen off\nname clubchat\npassword from-the-file\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PARLEY_NAME", "from-the-env")
		out := serveOutput(t, "--config", conf)
		if strings.Contains(out, "line protocol") || !strings.Contains(out, "need the server password") {
			t.Fatalf("the config file was not applied:\n%s", out)
		}
		addr := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(out)[1]
		a, _ := net.ResolveTCPAddr("tcp", addr)
		nc := testkit.DialNative(t, a, "alice")
		ev := nc.Expect("an answer", func(native.Event) bool { return true })
		if ev.Code != "auth_failed" {
			t.Fatalf("the password from the file was not required: %+v", ev)
		}
	})
}

// TestServeTLSBesidePlain: -frame-tls-listen adds a TLS listener and keeps
// the plain one plain; start-up says which is which.
func TestServeTLSBesidePlain(t *testing.T) {
	cert := testkit.SelfSignedCert(t)
	out := serveOutput(t, "--frame-listen", "127.0.0.1:0", "--line-listen", "off", "--frame-tls-listen", "127.0.0.1:0",
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile)
	plainRe := regexp.MustCompile(`framed protocol \(tutorial and native clients\) on (127\.0\.0\.1:\d+)`)
	tlsRe := regexp.MustCompile(`framed protocol \(tutorial and native clients\) over TLS on (127\.0\.0\.1:\d+)`)
	pm, tm := plainRe.FindStringSubmatch(out), tlsRe.FindStringSubmatch(out)
	if pm == nil || tm == nil {
		t.Fatalf("output:\n%s", out)
	}
	pa, _ := net.ResolveTCPAddr("tcp", pm[1])
	ta, _ := net.ResolveTCPAddr("tcp", tm[1])
	plainClient := testkit.DialTutorial(t, pa, "plain")
	plainClient.Send("/who")
	plainClient.ExpectNotice("members of lobby")
	tlsClient := testkit.NativeOn(t, testkit.DialTLS(t, ta, cert.Pool), "secure")
	tlsClient.ExpectType("welcome")
}

// TestRunUsageAndVersion: no arguments is a usage error (exit 2); --version
// prints the version.
func TestRunUsageAndVersion(t *testing.T) {
	var out, errOut syncBuffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage: parley COMMAND") {
		t.Fatalf("no arguments: exit %d, stderr %q", code, errOut.String())
	}
	for _, arg := range []string{"--version", "version"} {
		out = syncBuffer{}
		if code := run(context.Background(), []string{arg}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "parley ") {
			t.Fatalf("%s: exit %d, %q", arg, code, out.String())
		}
	}
}
