// Package server is parley's transport layer: TCP listeners with accept
// loops, and Conn, one client connection with a bounded outbound queue
// drained by an on-demand writer goroutine. Wire front-ends (packages
// wire/...) implement Handler to speak a protocol over a Conn; the chat core
// never sees a socket.
//
// Lock order: Server.mu, then Conn.mu. Conn.mu is held only for queue
// bookkeeping, never during I/O.
package server
