// Package server is parley's transport layer: TCP listeners with accept
// loops, and Conn, one client connection with a bounded outbound queue
// drained by an on-demand writer goroutine. Wire front-ends (packages
// wire/...) implement Handler to speak a protocol over a Conn; the chat core
// never sees a socket.
//
// Idle plain-TCP connections park between messages (park.go): they wait
// for input in the server's epoll poller with no goroutine of their own.
// Writers run on a pool of goroutines (writers.go).
//
// Lock order: Server.mu, then Conn.mu, then poller.mu. Conn.mu is held
// only for queue bookkeeping, never during I/O (parking's epoll_ctl and
// peek excepted: they do not block).
package server
