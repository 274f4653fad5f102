package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/testkit"
)

// startServe runs `parley serve args...` in-process on port 0 and returns
// the framed and line addresses; the server stops when the test ends.
func startServe(t *testing.T, args ...string) (frameAddr, lineAddr net.Addr) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args = append([]string{"serve", "--frame-listen", "127.0.0.1:0", "--line-listen", "127.0.0.1:0",
		"--store", "memory", "--log-level", "error"}, args...)
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
			_, lineAddr := startServe(t, tt.flag...)
			alice := testkit.DialLine(t, lineAddr, "alice")
			alice.Send("remember me")
			alice.Send("/who") // a round trip: the message above is stored by now
			alice.Expect("-- members of lobby")
			bob := testkit.DialLine(t, lineAddr, "bob")
			lines := bob.Greeting // the replay comes before the join
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
