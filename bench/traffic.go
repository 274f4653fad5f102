package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type sample struct {
	at    time.Duration
	total int64
}

// traffic runs the send phase and fills res.Traffic.
func (r *runner) traffic(ctx context.Context, res *Result) {
	cfg := &r.cfg
	var fast, laggards []*client
	for _, c := range r.clients {
		switch {
		case c.lag:
			laggards = append(laggards, c)
		case !c.slow:
			fast = append(fast, c)
		}
	}
	perMsg := int64(len(fast))
	if noEcho(cfg.Mode) {
		perMsg-- // the sender gets no echo
	}
	expected := int64(cfg.Senders) * int64(cfg.Messages) * perMsg
	total := func() int64 {
		var n int64
		for _, c := range fast {
			n += c.tr.count.Load()
		}
		return n
	}
	base := total() // 0 unless a stray message was counted during readiness

	srv0 := procsCPU(cfg.PIDs)
	self0, _ := procCPU(0)
	hb0, ht0 := hostCPU()
	start := time.Now()
	r.started.Store(r.now())

	var samples []sample
	sentBy := make([]int, cfg.Senders)
	var sendErrs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := 0; s < cfg.Senders; s++ {
		c := r.clients[s]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := c.sendLoop(s, start)
			mu.Lock()
			sentBy[s] = n
			if err != nil {
				sendErrs = append(sendErrs, err)
			}
			mu.Unlock()
		}()
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	tick := time.NewTicker(10 * time.Millisecond)
	deadline := time.NewTimer(cfg.Timeout)
	defer deadline.Stop()
	var doneSending bool
	var lastProgress time.Time
	last := int64(-1)
	var endReason string
loop:
	for {
		select {
		case <-tick.C:
		case <-sendersDone:
			doneSending = true
			sendersDone = nil
			lastProgress = time.Now()
		case <-deadline.C:
			endReason = "traffic phase timed out"
			break loop
		case <-ctx.Done():
			endReason = "interrupted"
			break loop
		}
		n := total() - base
		now := time.Now()
		samples = append(samples, sample{now.Sub(start), n})
		if n >= expected {
			break
		}
		if n != last {
			last, lastProgress = n, now
		} else if doneSending && now.Sub(lastProgress) > cfg.Quiet {
			endReason = "no deliveries for " + cfg.Quiet.String() + " after the senders finished"
			break
		}
	}
	tick.Stop()
	wall := time.Since(start)
	srv1 := procsCPU(cfg.PIDs)
	self1, _ := procCPU(0)
	hb1, ht1 := hostCPU()
	var lag *LagResult
	if len(laggards) > 0 {
		lag = r.waitLaggards(ctx, laggards, deadline.C)
	}
	r.stopping.Store(true)

	// Slow readers: drain what they were sent; a reset or EOF means the
	// server disconnected them.
	var disconnected atomic.Int64
	if cfg.Slow > 0 {
		var dw sync.WaitGroup
		for _, c := range r.clients {
			if !c.slow {
				continue
			}
			dw.Add(1)
			go func() {
				defer dw.Done()
				if c.drainClosed(3 * time.Second) {
					disconnected.Add(1)
				}
			}()
		}
		dw.Wait()
	}
	r.closeAll()
	r.waitReaders(5 * time.Second)
	<-sendersDoneOr(&wg, 5*time.Second)

	tr := &TrafficResult{
		Expected:      expected,
		Delivered:     total() - base,
		DurationMS:    ms(wall),
		EndReason:     endReason,
		OverallPerSec: 0,
	}
	if wall > 0 {
		tr.OverallPerSec = float64(tr.Delivered) / wall.Seconds()
	}
	tr.DeliveriesPerSec = steadyRate(samples, tr.Delivered)
	if tr.DeliveriesPerSec == 0 {
		tr.DeliveriesPerSec = tr.OverallPerSec
	}
	tr.Complete = tr.Delivered == expected
	for s := 0; s < cfg.Senders; s++ {
		ps := SenderResult{Sender: s, Sent: sentBy[s]}
		for _, c := range fast {
			if noEcho(cfg.Mode) && c.idx == s {
				continue
			}
			ps.Lost += cfg.Messages - c.tr.distinct(s)
			ps.Duplicated += c.tr.dup[s]
			ps.OutOfOrder += c.tr.ooo[s]
		}
		tr.Lost += int64(ps.Lost)
		tr.Duplicated += int64(ps.Duplicated)
		tr.OutOfOrder += int64(ps.OutOfOrder)
		tr.PerSender = append(tr.PerSender, ps)
	}
	for _, c := range fast {
		if c.readErr != nil && !errors.Is(c.readErr, net.ErrClosed) {
			tr.Disconnected++
		}
	}
	h := r.lat.merged()
	tr.Latency = LatencyResult{
		Count: h.TotalCount(),
		P50MS: float64(h.ValueAtQuantile(50)) / 1000, P90MS: float64(h.ValueAtQuantile(90)) / 1000,
		P99MS: float64(h.ValueAtQuantile(99)) / 1000, P999MS: float64(h.ValueAtQuantile(99.9)) / 1000,
		MaxMS: float64(h.Max()) / 1000, MeanMS: h.Mean() / 1000,
	}
	if cfg.Slow > 0 {
		tr.SlowReaders = &SlowResult{Slow: cfg.Slow, Disconnected: int(disconnected.Load())}
	}
	if lag != nil {
		for _, c := range laggards {
			for s := 0; s < cfg.Senders; s++ {
				lag.Lost += int64(cfg.Messages - c.tr.distinct(s))
				lag.Duplicated += int64(c.tr.dup[s])
				lag.OutOfOrder += int64(c.tr.ooo[s])
			}
			lag.Delivered += c.tr.count.Load()
			if c.readErr != nil && !errors.Is(c.readErr, net.ErrClosed) {
				lag.Disconnected++
			}
		}
		tr.Laggards = lag
	}
	for _, err := range sendErrs {
		res.Errors = append(res.Errors, "send: "+err.Error())
	}
	res.Traffic = tr

	res.Bench.CPUSec = (self1 - self0).Seconds()
	res.Bench.Cores = res.Bench.CPUSec / wall.Seconds()
	if ht1 > ht0 {
		res.Bench.HostBusy = float64(hb1-hb0) / float64(ht1-ht0)
	}
	ncpu := float64(runtime.NumCPU())
	res.Bench.Saturated = res.Bench.Cores >= 0.9*ncpu || res.Bench.HostBusy >= 0.95
	if cfg.measured() {
		s := &res.Server
		s.CPUSec = (sum(srv1) - sum(srv0)).Seconds()
		s.Cores = s.CPUSec / wall.Seconds()
		if tr.Delivered > 0 {
			s.CPUMicrosPerDelivery = s.CPUSec * 1e6 / float64(tr.Delivered)
		}
		s.RSSBytes, s.PeakRSSBytes = procsMem(cfg.PIDs)
		s.Processes = perProcess(cfg.PIDs, srv0, srv1)
	}
}

// perProcess breaks the server's cost down by process when there are
// several (a cluster's nodes): CPU seconds between the samples cpu0 and
// cpu1, and peak RSS. It returns nil for one process.
func perProcess(pids []int, cpu0, cpu1 []time.Duration) []ProcessResult {
	if len(pids) < 2 {
		return nil
	}
	out := make([]ProcessResult, len(pids))
	for i, pid := range pids {
		_, peak := procsMem(pids[i : i+1])
		out[i] = ProcessResult{PID: pid, CPUSec: (cpu1[i] - cpu0[i]).Seconds(), PeakRSSBytes: peak}
	}
	return out
}

// steadyRate is the delivery rate between 10% and 90% of the deliveries,
// which leaves out the ramp-up and the tail.
func steadyRate(samples []sample, final int64) float64 {
	if final <= 0 || len(samples) < 3 {
		return 0
	}
	at := func(frac float64) (time.Duration, bool) {
		goal := float64(final) * frac
		for i, s := range samples {
			if float64(s.total) >= goal {
				if i == 0 {
					return s.at, true
				}
				p := samples[i-1]
				f := (goal - float64(p.total)) / float64(s.total-p.total)
				return p.at + time.Duration(f*float64(s.at-p.at)), true
			}
		}
		return 0, false
	}
	t10, ok1 := at(0.1)
	t90, ok2 := at(0.9)
	if !ok1 || !ok2 || t90 <= t10 {
		return 0
	}
	return 0.8 * float64(final) / (t90 - t10).Seconds()
}

// drainClosed reads and discards from the client's connection until it
// ends or d passes. It reports whether the server closed the connection.
func (c *client) drainClosed(d time.Duration) bool {
	if c.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		for {
			if _, _, err := c.ws.Read(ctx); err != nil {
				return ctx.Err() == nil
			}
		}
	}
	conn := c.conn
	_ = conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256<<10)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
}

// waitReaders waits (bounded) for every reader goroutine to stop, so that
// their trackers can be read.
func (r *runner) waitReaders(d time.Duration) {
	end := time.Now().Add(d)
	for _, c := range r.clients {
		for c.connected() && !c.stopped.Load() && time.Now().Before(end) {
			time.Sleep(time.Millisecond)
		}
	}
}

func sendersDoneOr(wg *sync.WaitGroup, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	out := make(chan struct{})
	go func() {
		select {
		case <-ch:
		case <-time.After(d):
		}
		close(out)
	}()
	return out
}

// waitLaggards waits, after the reading clients have everything, until the
// lagging readers have caught up too (or stop making progress), and
// returns how long that took after the senders were done.
func (r *runner) waitLaggards(ctx context.Context, laggards []*client, deadline <-chan time.Time) *LagResult {
	cfg := &r.cfg
	res := &LagResult{Lag: len(laggards), ReadsPerSec: cfg.LagRate * cfg.Rate * float64(cfg.Senders)}
	res.Expected = int64(len(laggards)) * int64(cfg.Senders) * int64(cfg.Messages)
	sendEnd := r.now()
	last, lastProgress := int64(-1), time.Now()
	// A laggard reads one delivery per lagEvery: allow it that, and Quiet more.
	quiet := cfg.Quiet + 2*laggards[0].lagEvery
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int64
		done := true
		for _, c := range laggards {
			n += c.tr.count.Load()
			done = done && c.tr.count.Load() >= c.tr.expected()
		}
		if done {
			break
		}
		if n != last {
			last, lastProgress = n, time.Now()
		} else if time.Since(lastProgress) > quiet {
			res.EndReason = "the lagging readers stopped making progress"
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			res.EndReason = "traffic phase timed out"
			return res
		case <-ctx.Done():
			res.EndReason = "interrupted"
			return res
		}
	}
	var latest int64
	for _, c := range laggards {
		latest = max(latest, c.lagDone.Load())
	}
	if latest == 0 {
		latest = r.now()
	}
	res.CatchUpMS = ms(time.Duration(max(latest-sendEnd, 0)))
	return res
}
