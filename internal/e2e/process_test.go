package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// parleyBinary builds cmd/parley once per test run.
func parleyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a server process")
	}
	buildOnce.Do(func() {
		binPath = filepath.Join(binDir, "parley")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/parleychat/parley/cmd/parley").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lockedBuffer collects a process's stderr for failure reports.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverProc is a `parley serve` process.
type serverProc struct {
	cmd    *exec.Cmd
	addr   string // framed protocol address
	line   string // line protocol address, when extra flags turn it on
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done

	addrc, linec chan string // the addresses it prints
	wantLine     bool        // the line protocol is on
}

// cleanEnv drops PARLEY_* variables so that only the test's flags count.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// startServer runs parley serve on dataDir with the framed protocol on
// 127.0.0.1:0 and returns once it has printed its address.
func startServer(t *testing.T, dataDir string, extra ...string) *serverProc {
	t.Helper()
	p := spawnServer(t, nil, dataDir, extra...)
	p.waitListening(t)
	return p
}

// spawnServer starts parley serve as startServer does, but returns at once,
// before it listens (a cluster node's start waits for the others); then
// call waitListening. Its stderr is copied to log too, unless log is nil.
func spawnServer(t *testing.T, log io.Writer, dataDir string, extra ...string) *serverProc {
	t.Helper()
	args := append([]string{"serve", "--frame-listen", "127.0.0.1:0", "--line-listen", "", "--name-dialect-listen", "", "--welcome-dialect-listen", "", "--http-listen", "", "--irc-listen", "",
		"--store", "sqlite", "--data-dir", dataDir, "--log-level", "warn",
		"--msg-rate", "0"}, extra...) // these tests send as fast as they can
	cmd := exec.Command(parleyBinary(t), args...)
	cmd.Env = cleanEnv()
	p := &serverProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{}),
		addrc: make(chan string, 1), linec: make(chan string, 1), wantLine: slices.Contains(extra, "--line-listen")}
	cmd.Stderr = p.stderr
	if log != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, log)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		const prefix = "parley: framed protocol (tutorial and native clients) on "
		const linePrefix = "parley: line protocol (nc, telnet) on "
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), linePrefix); ok {
				p.linec <- a
			}
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				p.addrc <- a
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// waitListening waits until a spawned server has printed its addresses.
func (p *serverProc) waitListening(t *testing.T) {
	t.Helper()
	deadline := time.NewTimer(2 * timeout)
	defer deadline.Stop()
	select {
	case p.addr = <-p.addrc:
		if p.wantLine {
			select {
			case p.line = <-p.linec: // printed right after the framed port
			case <-p.done:
				t.Fatalf("parley serve exited before listening: %v\n%s", p.err, p.stderr)
			}
		}
	case <-p.done:
		t.Fatalf("parley serve exited before listening: %v\n%s", p.err, p.stderr)
	case <-deadline.C:
		t.Fatalf("parley serve did not listen within %v\n%s", 2*timeout, p.stderr)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Logf("kill: %v", err)
	}
	<-p.done
}

// stop sends SIGTERM (graceful shutdown) and waits for a clean exit.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sigterm: %v", err)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("parley serve exited with %v\n%s", p.err, p.stderr)
	}
}

// TestServeStartupErrors checks that a bad data directory stops the server
// at start-up with a clear message, not a panic.
func TestServeStartupErrors(t *testing.T) {
	bin := parleyBinary(t)
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the data dir
		want  string
	}{
		{"garbage database", func(t *testing.T) string {
			d := t.TempDir()
			garbage := bytes.Repeat([]byte("this is not a database\n"), 500)
			if err := os.WriteFile(filepath.Join(d, "parley.db"), garbage, 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}, "is not a parley database"},
		{"data dir is a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}, "cannot be created"},
		{"read-only data dir", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("root can write to a read-only directory")
			}
			d := t.TempDir()
			if err := os.Chmod(d, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			return d
		}, "is not writable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			cmd := exec.Command(bin, "serve", "--frame-listen", "127.0.0.1:0", "--line-listen", "", "--name-dialect-listen", "", "--welcome-dialect-listen", "", "--http-listen", "", "--data-dir", dir)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("parley serve started on a bad data dir:\n%s", out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("exit: %v, want status 1", err)
			}
			if !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "panic") {
				t.Errorf("output %q does not contain %q", out, tt.want)
			}
		})
	}
}
