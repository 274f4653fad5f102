package server

import (
	"sync"
	"sync/atomic"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/engine"
)

// Stats is a snapshot of what the server's connections did, for
// monitoring. Counters only grow; Lagging, Parked, Open and QueuedBytes are the
// state at the time of the snapshot.
type Stats struct {
	Lagging     int64                // connections catching up from the store now
	Parked      int64                // connections waiting for input with no goroutine (see Conn.Park) now
	CatchUps    int64                // times a connection fell behind and started catching up
	Dropped     int64                // connections dropped as slow consumers
	Open        map[string]int       // open connections, by listener ("frame", "line", "ws", ...)
	Accepted    map[string]uint64    // connections accepted, by listener (refused ones included)
	Closed      map[string]uint64    // connections closed, by reason (engine.CloseReason.Label)
	Errors      map[chat.Code]uint64 // error events sent to clients, by code: requests and messages refused
	BytesOut    uint64               // bytes written to clients
	QueuedBytes int64                // outbound bytes waiting to be written now
	Refused     uint64               // connections refused at accept (server full, per-IP limit)
}

// stats are the server's counters. BytesOut is added once per write (a
// batch of events), errors once per error event; nothing is counted per
// delivery.
type stats struct {
	lagging, catchUps, dropped atomic.Int64
	parked                     atomic.Int64
	bytesOut                   atomic.Uint64
	refused                    atomic.Uint64
	closed                     [engine.NumReasons]atomic.Uint64

	mu       sync.Mutex
	errors   map[chat.Code]uint64
	accepted map[string]uint64
}

func (st *stats) noteError(ev *chat.Event) {
	code := chat.CodeInternal
	if ev.Err != nil {
		code = ev.Err.Code
	}
	st.mu.Lock()
	if st.errors == nil {
		st.errors = map[chat.Code]uint64{}
	}
	st.errors[code]++
	st.mu.Unlock()
}

// track makes a listener's series exist (at zero) before its first
// connection.
func (st *stats) track(listener string) {
	st.mu.Lock()
	if st.accepted == nil {
		st.accepted = map[string]uint64{}
	}
	st.accepted[listener] += 0
	st.mu.Unlock()
}

func (st *stats) noteAccepted(listener string) {
	st.mu.Lock()
	if st.accepted == nil {
		st.accepted = map[string]uint64{}
	}
	st.accepted[listener]++
	st.mu.Unlock()
}

func (st *stats) noteClosed(r engine.CloseReason) {
	if int(r) >= 0 && int(r) < len(st.closed) {
		st.closed[r].Add(1)
	}
}

// Accepted returns how many connections have been accepted on every
// listener: the sum of Stats().Accepted without the per-connection walk.
func (s *Server) Accepted() uint64 {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	var n uint64
	for _, v := range s.stats.accepted {
		n += v
	}
	return n
}

// Stats returns a snapshot of the connection counters and state.
func (s *Server) Stats() Stats {
	st := Stats{
		Lagging:  s.stats.lagging.Load(),
		Parked:   s.stats.parked.Load(),
		CatchUps: s.stats.catchUps.Load(),
		Dropped:  s.stats.dropped.Load(),
		BytesOut: s.stats.bytesOut.Load(),
		Refused:  s.stats.refused.Load(),
		Open:     map[string]int{},
		Accepted: map[string]uint64{},
		Closed:   map[string]uint64{},
		Errors:   map[chat.Code]uint64{},
	}
	for r := engine.ReasonClientClosed; int(r) < engine.NumReasons; r++ {
		st.Closed[r.Label()] = s.stats.closed[r].Load()
	}
	s.stats.mu.Lock()
	for k, v := range s.stats.errors {
		st.Errors[k] = v
	}
	for k, v := range s.stats.accepted {
		st.Accepted[k] = v
		st.Open[k] = 0
	}
	s.stats.mu.Unlock()
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		st.Open[c.listener]++
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		st.QueuedBytes += int64(c.queued)
		c.mu.Unlock()
	}
	return st
}
