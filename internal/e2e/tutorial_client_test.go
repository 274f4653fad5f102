package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
)

// TestTutorialPythonClient runs the tutorial's own Python client
// (examples/tutorial_client.py), unchanged, against parley.
func TestTutorialPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "tutorial_client.py")
	n := testkit.StartNode(t, node.Config{})
	host, port, _ := strings.Cut(n.Addr("frame").String(), ":")

	bob := testkit.DialTutorial(t, n.Addr("frame"), "bob")
	testkit.WaitMembers(t, n, "lobby", 1)

	cmd := exec.Command(py, "-u", script, host, port)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		r := bufio.NewReader(stdout)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				lines <- s
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()

	io.WriteString(stdin, "Chloé🌸\n")
	bob.ExpectNotice("Chloé🌸 joined lobby")
	io.WriteString(stdin, "bonjour 王芳\n")
	bob.Expect("Chloé🌸", "bonjour 王芳")

	bob.Send("salut!")
	// The tutorial client only reads after its next input line.
	deadline := time.After(testkit.Timeout)
	for {
		io.WriteString(stdin, "\n")
		select {
		case s, ok := <-lines:
			if !ok {
				t.Fatal("tutorial client exited")
			}
			if strings.Contains(s, "bob > salut!") {
				return
			}
		case <-deadline:
			t.Fatal("the tutorial client never printed bob's message")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
