package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Server is a server process the bench started itself.
type Server struct {
	Addr     string // the framed protocol's address
	HTTPAddr string // the HTTP port's (WebSocket) address, if it serves one
	IRCAddr  string // the IRC port's address, if it serves one
	LineAddr string // the line protocol's address, if it serves one
	PID      int
	cmd      *exec.Cmd
	done     chan struct{}
}

// Spawn starts argv (a `parley serve` command line listening on 127.0.0.1
// port 0) and waits, at most timeout, for the line announcing the framed
// protocol's address (and, when the command line serves HTTP, that of the
// web app, which comes first). The server's log goes to logw.
func Spawn(argv []string, logw io.Writer, timeout time.Duration) (*Server, error) {
	if len(argv) == 0 {
		return nil, errors.New("bench: empty server command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logw
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	found := make(chan [2]string, 1)
	var ircAddr, lineAddr string // written before found is sent to
	go func() {
		sc := bufio.NewScanner(out)
		var framed string
		for sc.Scan() {
			line := sc.Text()
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.HasPrefix(line, "parley: IRC ") && ircAddr == "" {
				ircAddr = strings.TrimSpace(line[i+4:])
			}
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.HasPrefix(line, "parley: line protocol") && !strings.Contains(line, " over TLS ") && lineAddr == "" {
				lineAddr = strings.TrimSpace(line[i+4:])
			}
			if i := strings.LastIndex(line, " on "); i >= 0 && strings.Contains(line, "framed protocol") && framed == "" {
				framed = strings.TrimSpace(line[i+4:])
			}
			if rest, ok := strings.CutPrefix(line, "parley: web app on http://"); ok {
				http, _, _ := strings.Cut(rest, "/")
				select {
				case found <- [2]string{framed, http}:
				default:
				}
			}
			if strings.HasPrefix(line, "parley: version") && framed != "" { // the last start-up line
				select {
				case found <- [2]string{framed, ""}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case a := <-found:
		s.Addr, s.HTTPAddr, s.IRCAddr, s.LineAddr = a[0], a[1], ircAddr, lineAddr
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("bench: server %q exited before listening", strings.Join(argv, " "))
	case <-time.After(timeout):
		s.Stop()
		return nil, fmt.Errorf("bench: server %q did not announce its address within %s", strings.Join(argv, " "), timeout)
	}
}

// Stop asks the server to shut down (SIGTERM) and kills it if it has not
// exited within 15 seconds.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
