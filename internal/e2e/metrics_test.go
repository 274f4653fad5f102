package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/internal/testkit"
	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/wire/native"
)

// scrape fetches /metrics from addr and parses it with the Prometheus
// text parser.
func scrape(t *testing.T, addr net.Addr) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include every label=value pair given, summed over the rest.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
	found := false
	for _, m := range f.Metric {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			match := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					match = true
				}
			}
			ok = ok && match
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}

// TestMetrics: /metrics is the Prometheus text format, every documented
// family is there with its type, and the counters move as traffic flows.
func TestMetrics(t *testing.T) {
	n := testkit.StartNode(t, node.Config{Hub: chat.Config{RateLimit: chat.RateLimit{Rate: 20, Burst: 3}}})
	addr := n.Addr(node.ListenHTTP)
	before := scrape(t, addr)
	for name, typ := range map[string]dto.MetricType{
		"parley_connections":                   dto.MetricType_GAUGE,
		"parley_rooms":                         dto.MetricType_GAUGE,
		"parley_deliveries_total":              dto.MetricType_COUNTER,
		"parley_sent_bytes_total":              dto.MetricType_COUNTER,
		"parley_queued_bytes":                  dto.MetricType_GAUGE,
		"parley_slow_consumers_total":          dto.MetricType_COUNTER,
		"parley_catchups_total":                dto.MetricType_COUNTER,
		"parley_store_commit_duration_seconds": dto.MetricType_HISTOGRAM,
		"parley_store_commit_batch_messages":   dto.MetricType_HISTOGRAM,
		"parley_rate_limit_delays_total":       dto.MetricType_COUNTER,
		"parley_disconnects_total":             dto.MetricType_COUNTER,
		"go_goroutines":                        dto.MetricType_GAUGE,
		"process_open_fds":                     dto.MetricType_GAUGE,
	} {
		f := before[name]
		if f == nil {
			t.Errorf("no %s in /metrics", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
	}

	tut := testkit.DialTutorial(t, n.Addr("frame"), "tut")
	ln := testkit.DialLine(t, n.Addr("line"), "liner")
	ws := testkit.DialWS(t, addr, "", "webby")
	ws.ExpectType("welcome")
	testkit.WaitMembers(t, n, "lobby", 3)
	ws.Send(native.Request{Type: "say", Text: text("counted"), Ref: "m1"})
	ws.Expect("echo", func(ev native.Event) bool { return ev.Ref == "m1" })
	tut.Expect("webby", "counted")
	ln.Expect("counted")
	ws.Send(native.Request{Type: "join", Room: "no spaces allowed", Ref: "bad"})
	ws.Expect("the error", func(ev native.Event) bool { return ev.Type == "error" && ev.Ref == "bad" })
	for i := range 5 { // over the burst of 3: held
		ws.Send(native.Request{Type: "say", Text: text(fmt.Sprint("fast ", i))})
	}
	ws.Expect("slow down", func(ev native.Event) bool { return ev.Type == "error" && ev.Code == string(chat.CodeRateLimited) })

	after := scrape(t, addr)
	for _, c := range []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{"parley_connections", []string{"listener", "frame"}, 1},
		{"parley_connections", []string{"listener", "line"}, 1},
		{"parley_connections", []string{"listener", "ws"}, 1},
		{"parley_sessions", []string{"protocol", "tutorial"}, 1},
		{"parley_sessions", []string{"protocol", "native"}, 1},
		{"parley_sessions", []string{"protocol", "line"}, 1},
		{"parley_connections_accepted_total", []string{"listener", "ws"}, 1},
		{"parley_messages_accepted_total", []string{"kind", "say"}, 1},
		{"parley_errors_total", []string{"code", "room_invalid"}, 1},
		{"parley_errors_total", []string{"code", "rate_limited"}, 1},
		{"parley_deliveries_total", nil, value(before, "parley_deliveries_total") + 3},
		{"parley_sent_bytes_total", nil, value(before, "parley_sent_bytes_total") + 1},
		{"parley_store_commit_duration_seconds", nil, 1},
		{"parley_store_commit_batch_messages", nil, 1},
		{"parley_rate_limit_delays_total", nil, 1},
		{"parley_rate_limit_warnings_total", nil, 1},
	} {
		if got := value(after, c.name, c.labels...); got < c.atLeast {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.atLeast)
		}
	}
	for _, f := range after {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v := l.GetValue(); strings.Contains(v, "webby") || strings.Contains(v, "lobby") {
					t.Errorf("%s has a label %s=%q: names and rooms are never labels", f.GetName(), l.GetName(), v)
				}
			}
		}
	}

	// Accounts: one registered, a failed and a good login, a kick.
	ws.Send(native.Request{Type: "register", Password: "webby-secret"})
	ws.Expect("registered", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "now registered") })
	ws.Send(native.Request{Type: "join", Room: "dev"})
	ws.Expect("owner", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "you own #dev") })
	bad := testkit.NativeOnWith(t, testkit.Dial(t, n.Addr("frame")), native.Request{Type: "hello", Version: native.Version, Account: "webby", Password: "wrong-one"})
	bad.ExpectType("error")
	good := testkit.NativeOnWith(t, testkit.Dial(t, n.Addr("frame")), native.Request{Type: "hello", Version: native.Version, Account: "webby", Password: "webby-secret"})
	good.ExpectType("welcome")
	tut.Send("/join dev")
	testkit.WaitMembers(t, n, "dev", 2)
	ws.Send(native.Request{Type: "kick", Room: "dev", Name: "tut"})
	ws.Expect("the kick", func(ev native.Event) bool { return ev.Type == "notice" && strings.Contains(ev.Text, "kicked tut") })
	acct := scrape(t, addr)
	for _, c := range []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{"parley_accounts", nil, 1},
		{"parley_logins_total", []string{"result", "ok"}, 1},
		{"parley_logins_total", []string{"result", "failed"}, 1},
		{"parley_moderation_actions_total", []string{"action", "kick"}, 1},
		{"parley_moderation_actions_total", []string{"action", "claim"}, 1},
	} {
		if got := value(acct, c.name, c.labels...); got < c.atLeast {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.atLeast)
		}
	}

	ws.Send(native.Request{Type: "quit"})
	ws.ExpectType("bye")
	if _, err := ws.Next(); err == nil { // reading answers the close handshake
		t.Fatal("an event after bye")
	}
	testkit.Eventually(t, "the quit counted", func() bool {
		return value(scrape(t, addr), "parley_disconnects_total", "reason", "quit") >= 1
	})
}

// TestMetricsListen: --metrics-listen moves /metrics to its own address.
func TestMetricsListen(t *testing.T) {
	n := testkit.StartNode(t, node.Config{MetricsAddr: "127.0.0.1:0"})
	if f := scrape(t, n.Addr(node.ListenMetrics)); f["parley_rooms"] == nil {
		t.Fatal("no parley_rooms on the metrics address")
	}
	resp, err := http.Get("http://" + n.Addr(node.ListenHTTP).String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the HTTP port with --metrics-listen: %s, want 404", resp.Status)
	}
}
