package e2e

import (
	"fmt"
	"testing"

	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// TestResumeEdges: resuming when up to date still ends with history_end;
// resuming from before what retention kept says history_gone and replays
// what is left; a short gap is replayed exactly.
func TestResumeEdges(t *testing.T) {
	n := startNode(t, node.StoreConfig{StoreKind: node.StoreSQLite, DataDir: t.TempDir(), RetainMessages: 10})
	addr := n.Addr("frame").String()
	c := dialRetry(t, addr, native.Request{Name: "alice"})
	defer c.close()
	c.readUntil(t, "join", func(ev native.Event) bool { return ev.Type == "history_end" })
	var sent []msg
	for i := 0; i < 40; i++ {
		ref := fmt.Sprint("r", i)
		if err := c.send(native.Request{Type: "say", Ref: ref, Text: ptr(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
		got := c.readUntil(t, "echo", func(ev native.Event) bool { return ev.Ref == ref && ev.Type == "say" })
		sent = append(sent, got[len(got)-1])
	}
	last := sent[len(sent)-1].ID

	tests := []struct {
		name     string
		since    uint64
		wantEnd  string
		wantFrom int // index in sent of the first replayed message; len(sent) for none
		minKept  int
	}{
		{"up to date", last, "", len(sent), 0},
		{"short gap", sent[36].ID, "", 37, 0},
		{"older than retention", sent[0].ID, "history_gone", -1, 10},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRetry(t, addr, native.Request{Name: fmt.Sprint("bob", i), Since: map[string]uint64{"lobby": tt.since}})
			defer r.close()
			var end string
			got := r.readUntil(t, "resume", func(ev native.Event) bool {
				end = ev.Text
				return ev.Type == "history_end"
			})
			if end != tt.wantEnd {
				t.Errorf("history_end %q, want %q", end, tt.wantEnd)
			}
			from := tt.wantFrom
			if from < 0 { // whatever retention kept: the newest, at least minKept
				from = len(sent) - len(got)
				if len(got) < tt.minKept {
					t.Errorf("replayed %d, want at least %d", len(got), tt.minKept)
				}
			}
			checkSame(t, "replay", got, sent[from:])
		})
	}
}
