// Package metrics exports a node's counters in the Prometheus text format.
//
// The hub and the server count with plain atomics on their hot paths and
// hand out snapshots (chat.Hub.Stats, server.Server.Stats); this package
// turns a snapshot into metrics at scrape time, so nothing on the message
// path depends on Prometheus and a scrape costs one snapshot. Names and
// labels follow the Prometheus conventions: parley_..._total for
// counters, base units (seconds, bytes), and only low-cardinality labels
// (listener, protocol, kind, reason, error code; never a nick or a room).
package metrics

import (
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/cluster"
	"github.com/parleychat/parley/server"
)

// HubStats gives the hub's snapshot (*chat.Hub).
type HubStats interface{ Stats() chat.Stats }

// ServerStats gives the connections' snapshot (*server.Server).
type ServerStats interface{ Stats() server.Stats }

// Collector is a prometheus.Collector over a hub and a server.
type Collector struct {
	hub HubStats
	srv ServerStats
}

// New returns a collector reading hub and srv at each scrape.
func New(hub HubStats, srv ServerStats) *Collector { return &Collector{hub: hub, srv: srv} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("parley_"+name, help, labels, nil)
}

var (
	descConns         = desc("connections", "Open client connections, by listener.", "listener")
	descAccepted      = desc("connections_accepted_total", "Client connections accepted, by listener (refused ones included).", "listener")
	descRefused       = desc("connections_refused_total", "Client connections refused at accept: the server or the address was over its connection limit.")
	descClosed        = desc("disconnects_total", "Client connections closed, by reason.", "reason")
	descSessions      = desc("sessions", "Chat sessions (named users), by front-end protocol.", "protocol")
	descRooms         = desc("rooms", "Rooms with members (and the default room).")
	descMsgAccepted   = desc("messages_accepted_total", "Messages accepted for the log, by kind (say, me, dm).", "kind")
	descErrors        = desc("errors_total", "Errors sent to clients, by code: refused messages and requests.", "code")
	descDeliveries    = desc("deliveries_total", "Messages handed to sessions (one per recipient).")
	descBytesOut      = desc("sent_bytes_total", "Bytes written to clients.")
	descQueued        = desc("queued_bytes", "Outbound bytes waiting to be written to clients.")
	descSlow          = desc("slow_consumers_total", "Connections dropped as slow consumers (no write progress, or over the queue bound with no catch-up).")
	descCatchUps      = desc("catchups_total", "Times a lagging connection switched to catching up from the store.")
	descLagging       = desc("lagging_connections", "Connections catching up from the store now.")
	descParked        = desc("parked_connections", "Connections waiting for input with no goroutine of their own (parked in the server's poller) now.")
	descCommitQueue   = desc("commit_queue_messages", "Accepted messages waiting for the store.")
	descCommits       = desc("store_commits_total", "Batches appended to the store.")
	descCommitErrors  = desc("store_commit_errors_total", "Appends to the store that failed (their messages were refused with code unavailable).")
	descCommitSeconds = desc("store_commit_duration_seconds", "How long one append of a batch to the store took.")
	descCommitBatch   = desc("store_commit_batch_messages", "Messages per batch appended to the store.")
	descStalled       = desc("store_stalled", "1 while the commit queue is full and the store makes no progress (new messages are refused).")
	descRateDelays    = desc("rate_limit_delays_total", "Requests held back by the per-session rate limit.")
	descRateWarnings  = desc("rate_limit_warnings_total", "\"Slow down\" errors sent: the first held request of a run.")
	descFlooded       = desc("rate_limit_disconnects_total", "Sessions ended for flooding past the rate limit.")
	descAccounts      = desc("accounts", "Registered accounts.")
	descLogins        = desc("logins_total", "Account logins, by result: ok, failed (a wrong account name or password), locked (refused by the brute-force guard).", "result")
	descModeration    = desc("moderation_actions_total", "Moderation actions, by action (kick, ban, unban, mute, unmute, mode, slow, op, voice, claim, invite, kill, server_ban, server_unban, raid: a room switched to accounts-only).", "action")
)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descAccepted, descRefused, descClosed, descSessions, descRooms,
		descMsgAccepted, descErrors, descDeliveries, descBytesOut, descQueued, descSlow, descCatchUps, descLagging, descParked,
		descCommitQueue, descCommits, descCommitErrors, descCommitSeconds, descCommitBatch, descStalled,
		descRateDelays, descRateWarnings, descFlooded, descAccounts, descLogins, descModeration} {
		ch <- d
	}
}

// Collect takes a snapshot of the hub and the server and sends it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	h, s := c.hub.Stats(), c.srv.Stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, k := range sortedKeys(s.Open) {
		gauge(descConns, float64(s.Open[k]), k)
	}
	for _, k := range sortedKeys(s.Accepted) {
		counter(descAccepted, float64(s.Accepted[k]), k)
	}
	counter(descRefused, float64(s.Refused))
	for _, k := range sortedKeys(s.Closed) {
		counter(descClosed, float64(s.Closed[k]), k)
	}
	for _, k := range sortedKeys(h.Sessions) {
		gauge(descSessions, float64(h.Sessions[k]), k)
	}
	gauge(descRooms, float64(h.Rooms))
	for _, k := range sortedKeys(h.Accepted) {
		counter(descMsgAccepted, float64(h.Accepted[k]), k)
	}
	for _, k := range sortedKeys(s.Errors) {
		counter(descErrors, float64(s.Errors[k]), string(k))
	}
	counter(descDeliveries, float64(h.Deliveries))
	counter(descBytesOut, float64(s.BytesOut))
	gauge(descQueued, float64(s.QueuedBytes))
	counter(descSlow, float64(s.Dropped))
	counter(descCatchUps, float64(s.CatchUps))
	gauge(descLagging, float64(s.Lagging))
	gauge(descParked, float64(s.Parked))
	gauge(descCommitQueue, float64(h.CommitQueue))
	counter(descCommits, float64(h.Commits))
	counter(descCommitErrors, float64(h.CommitErrors))
	ch <- prometheus.MustNewConstHistogram(descCommitSeconds, h.CommitSeconds.Count, h.CommitSeconds.Sum, h.CommitSeconds.Buckets)
	ch <- prometheus.MustNewConstHistogram(descCommitBatch, h.CommitBatch.Count, h.CommitBatch.Sum, h.CommitBatch.Buckets)
	stalled := 0.0
	if h.Stalled {
		stalled = 1
	}
	gauge(descStalled, stalled)
	counter(descRateDelays, float64(h.RateLimitDelays))
	counter(descRateWarnings, float64(h.RateLimitWarning))
	counter(descFlooded, float64(h.Flooded))
	gauge(descAccounts, float64(h.Accounts))
	for _, k := range sortedKeys(h.Logins) {
		counter(descLogins, float64(h.Logins[k]), k)
	}
	for _, k := range sortedKeys(h.Moderation) {
		counter(descModeration, float64(h.Moderation[k]), k)
	}
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// Handler serves the node's metrics, with the Go runtime's and the
// process's (CPU, memory, descriptors) and any extra collectors' (the
// cluster's), in the Prometheus text format.
func Handler(hub HubStats, srv ServerStats, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(hub, srv), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// ClusterStats gives a cluster node's snapshot (*cluster.Cluster).
type ClusterStats interface{ Stats() cluster.Stats }

var (
	descClusterUp     = desc("cluster_connected", "1 while the node is connected to its cluster's NATS servers (messages are refused otherwise).")
	descClusterNodes  = desc("cluster_nodes", "Nodes of the cluster known to be alive, this one included.")
	descClusterRemote = desc("cluster_remote_sessions", "Sessions on the cluster's other nodes.")
	descClusterLast   = desc("cluster_last_id", "Id (stream sequence) of the last message of the room log this node has taken in.")
)

// clusterCollector is a prometheus.Collector over a cluster node.
type clusterCollector struct{ c ClusterStats }

// NewClusterCollector returns a collector of a cluster node's state.
func NewClusterCollector(c ClusterStats) prometheus.Collector { return clusterCollector{c} }

// Describe sends every metric's description.
func (cc clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClusterUp, descClusterNodes, descClusterRemote, descClusterLast} {
		ch <- d
	}
}

// Collect sends the cluster's state.
func (cc clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.Stats()
	up := 0.0
	if st.Connected {
		up = 1
	}
	for d, v := range map[*prometheus.Desc]float64{descClusterUp: up, descClusterNodes: float64(st.Nodes), descClusterRemote: float64(st.Remote), descClusterLast: float64(st.LastID)} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
}
