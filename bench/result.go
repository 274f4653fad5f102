package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Result is everything one run measured. It marshals to the JSON line the
// command prints.
type Result struct {
	Config    ConfigSummary  `json:"config"`
	Date      string         `json:"date"`
	CPUs      int            `json:"cpus"`
	ConnectMS float64        `json:"connect_ms"` // dial + handshake of all N
	ReadyMS   float64        `json:"ready_ms"`   // until all N were seen in the room
	Traffic   *TrafficResult `json:"traffic,omitempty"`
	Idle      *IdleResult    `json:"idle,omitempty"`
	Server    ServerResult   `json:"server"`
	Bench     BenchCPU       `json:"bench"`
	Errors    []string       `json:"errors,omitempty"`
}

// ConfigSummary is the run's shape.
type ConfigSummary struct {
	Addr     string   `json:"addr"`
	Addrs    []string `json:"addrs,omitempty"` // with several servers: every address, Addr first
	Mode     string   `json:"mode"`
	Clients  int      `json:"clients"`
	Senders  int      `json:"senders"`
	Messages int      `json:"messages"`
	Rate     float64  `json:"rate"`
	Size     int      `json:"size"`
	Slow     int      `json:"slow,omitempty"`
	Lag      int      `json:"lag,omitempty"`
	LagRate  float64  `json:"lag_rate,omitempty"`
	Idle     bool     `json:"idle,omitempty"`
	PID      int      `json:"pid,omitempty"`
	PIDs     []int    `json:"pids,omitempty"` // with several server processes: every pid, PID first
}

func summary(c Config) ConfigSummary {
	s := ConfigSummary{Addr: c.Addr, Mode: c.Mode, Clients: c.Clients, Senders: c.Senders, Messages: c.Messages,
		Rate: c.Rate, Size: c.Size, Slow: c.Slow, Lag: c.Lag, LagRate: c.LagRate, Idle: c.Idle, PID: c.PID}
	if len(c.Addrs) > 1 {
		s.Addrs = c.Addrs
	}
	if len(c.PIDs) > 1 {
		s.PIDs = c.PIDs
	}
	return s
}

// TrafficResult is what the send phase measured.
type TrafficResult struct {
	Expected         int64          `json:"expected"`  // deliveries to the reading clients
	Delivered        int64          `json:"delivered"` // of them, counted (duplicates included)
	Complete         bool           `json:"complete"`
	DurationMS       float64        `json:"duration_ms"`
	DeliveriesPerSec float64        `json:"deliveries_per_sec"` // between 10% and 90% of the deliveries
	OverallPerSec    float64        `json:"overall_per_sec"`    // over the whole phase
	Latency          LatencyResult  `json:"latency"`
	Lost             int64          `json:"lost"`
	Duplicated       int64          `json:"duplicated"`
	OutOfOrder       int64          `json:"out_of_order"`
	Disconnected     int            `json:"disconnected"` // reading clients whose connection failed
	PerSender        []SenderResult `json:"per_sender"`
	SlowReaders      *SlowResult    `json:"slow_readers,omitempty"`
	Laggards         *LagResult     `json:"lagging_readers,omitempty"`
	EndReason        string         `json:"end_reason,omitempty"` // why the phase ended before every delivery arrived
}

// LatencyResult summarises end-to-end latency (send to receive).
type LatencyResult struct {
	Count  int64   `json:"count"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
	MeanMS float64 `json:"mean_ms"`
}

// SenderResult accounts for one sender's messages over every reading client.
type SenderResult struct {
	Sender     int `json:"sender"`
	Sent       int `json:"sent"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	OutOfOrder int `json:"out_of_order"`
}

// SlowResult reports the slow readers.
type SlowResult struct {
	Slow         int `json:"slow"`
	Disconnected int `json:"disconnected"` // closed by the server (slow consumers)
}

// LagResult reports the lagging readers: clients that read steadily, but
// slower than what is offered to them.
type LagResult struct {
	Lag          int     `json:"lag"`
	ReadsPerSec  float64 `json:"reads_per_sec"` // each laggard's reading speed
	Expected     int64   `json:"expected"`
	Delivered    int64   `json:"delivered"`
	Lost         int64   `json:"lost"`
	Duplicated   int64   `json:"duplicated"`
	OutOfOrder   int64   `json:"out_of_order"`
	Disconnected int     `json:"disconnected"`
	CatchUpMS    float64 `json:"catch_up_ms"` // from the senders' end until the last laggard had everything
	EndReason    string  `json:"end_reason,omitempty"`
}

// IdleResult is what idle mode measured.
type IdleResult struct {
	Connections     int     `json:"connections"`
	StillOpen       int     `json:"still_open"`
	HeldMS          float64 `json:"held_ms"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes,omitempty"`
}

// ServerResult is the server process's cost, read from /proc (with a pid);
// with several processes, summed over them.
type ServerResult struct {
	CPUSec               float64 `json:"cpu_sec,omitempty"` // during the traffic phase
	Cores                float64 `json:"cores,omitempty"`
	CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery,omitempty"`
	ConnectCPUSec        float64 `json:"connect_cpu_sec,omitempty"`
	RSSBeforeBytes       int64   `json:"rss_before_bytes,omitempty"`
	RSSBytes             int64   `json:"rss_bytes,omitempty"`
	PeakRSSBytes         int64   `json:"peak_rss_bytes,omitempty"` // the sum of each process's peak
	// Processes breaks the traffic phase's cost down by process, when
	// there are several.
	Processes []ProcessResult `json:"processes,omitempty"`
}

// ProcessResult is one server process's share of a ServerResult.
type ProcessResult struct {
	PID          int     `json:"pid"`
	CPUSec       float64 `json:"cpu_sec"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
}

// BenchCPU is the bench's own CPU use during the traffic phase, to tell
// when the load generator (or the machine) was the bottleneck.
type BenchCPU struct {
	CPUSec    float64 `json:"cpu_sec"`
	Cores     float64 `json:"cores"`
	HostBusy  float64 `json:"host_busy"` // fraction of all CPUs busy, every process included
	Saturated bool    `json:"saturated"`
}

// JSON returns the result as one line of JSON.
func (r *Result) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}

// WriteTable writes the result as a human-readable table.
func (r *Result) WriteTable(w io.Writer) {
	c := r.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "  %-26s %s\n", k, fmt.Sprintf(format, a...)) }
	shape := fmt.Sprintf("%s N=%d", c.Mode, c.Clients)
	if !c.Idle {
		rate := "max"
		if c.Rate > 0 {
			rate = fmt.Sprintf("%g/s", c.Rate)
		}
		shape += fmt.Sprintf(" S=%d M=%d R=%s size=%dB", c.Senders, c.Messages, rate, c.Size)
		if c.Slow > 0 {
			shape += fmt.Sprintf(" K=%d slow", c.Slow)
		}
		if c.Lag > 0 {
			shape += fmt.Sprintf(" %d lagging at %g", c.Lag, c.LagRate)
		}
	} else {
		shape += " idle"
	}
	against := c.Addr
	if len(c.Addrs) > 1 {
		against = fmt.Sprintf("%d servers: %s", len(c.Addrs), strings.Join(c.Addrs, ", "))
	}
	fmt.Fprintf(w, "parley bench %s against %s\n", shape, against)
	row("connect (all N)", "%.0f ms (ready in room: %.0f ms)", r.ConnectMS, r.ReadyMS)
	if t := r.Traffic; t != nil {
		row("deliveries", "%d of %d (%s)", t.Delivered, t.Expected, yes(t.Complete, "complete", "INCOMPLETE"))
		row("deliveries/s (steady)", "%.0f  (overall %.0f over %.0f ms)", t.DeliveriesPerSec, t.OverallPerSec, t.DurationMS)
		l := t.Latency
		row("latency ms", "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f", l.P50MS, l.P90MS, l.P99MS, l.P999MS, l.MaxMS)
		row("lost / dup / reordered", "%d / %d / %d", t.Lost, t.Duplicated, t.OutOfOrder)
		if t.Lost+t.Duplicated+t.OutOfOrder > 0 {
			for _, s := range t.PerSender {
				if s.Lost+s.Duplicated+s.OutOfOrder > 0 {
					row(fmt.Sprintf("  sender %d", s.Sender), "sent %d, lost %d, dup %d, reordered %d", s.Sent, s.Lost, s.Duplicated, s.OutOfOrder)
				}
			}
		}
		if t.Disconnected > 0 {
			row("reading clients dropped", "%d", t.Disconnected)
		}
		if l := t.Laggards; l != nil {
			row("lagging readers", "%d reading %.0f msgs/s each: %d of %d delivered, lost %d, dup %d, reordered %d, disconnected %d; caught up %.0f ms after the senders ended %s",
				l.Lag, l.ReadsPerSec, l.Delivered, l.Expected, l.Lost, l.Duplicated, l.OutOfOrder, l.Disconnected, l.CatchUpMS, l.EndReason)
		}
		if s := t.SlowReaders; s != nil {
			row("slow readers", "%d, disconnected by the server: %d", s.Slow, s.Disconnected)
		}
		if t.EndReason != "" {
			row("ended early", "%s", t.EndReason)
		}
	}
	if i := r.Idle; i != nil {
		row("idle connections", "%d held %.0f ms, %d still open", i.Connections, i.HeldMS, i.StillOpen)
		if i.RSSPerConnBytes > 0 {
			row("server RSS per connection", "%.0f bytes", i.RSSPerConnBytes)
		}
	}
	s := r.Server
	if c.PID > 0 {
		of := ""
		if len(c.PIDs) > 1 {
			of = fmt.Sprintf("; summed over %d processes", len(c.PIDs))
		}
		if r.Traffic != nil {
			row("server CPU", "%.2f s (%.2f cores), %.3f µs per delivery%s", s.CPUSec, s.Cores, s.CPUMicrosPerDelivery, of)
		}
		row("server RSS", "%s now, %s peak (%s before)%s", mib(s.RSSBytes), mib(s.PeakRSSBytes), mib(s.RSSBeforeBytes), of)
		for _, p := range s.Processes {
			row(fmt.Sprintf("  pid %d", p.PID), "CPU %.2f s, peak RSS %s", p.CPUSec, mib(p.PeakRSSBytes))
		}
	}
	if r.Traffic != nil {
		b := r.Bench
		row("bench CPU", "%.2f s (%.2f cores); machine %.0f%% busy of %d CPUs%s", b.CPUSec, b.Cores, 100*b.HostBusy, r.CPUs,
			yes(b.Saturated, "  ** CPU SATURATED: figures are a lower bound **", ""))
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func yes(b bool, t, f string) string {
	if b {
		return t
	}
	return f
}

// Ratio formats a/b for comparison tables.
func Ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", a/b), "0"), ".") + "x"
}
