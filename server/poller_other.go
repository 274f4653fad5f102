//go:build !linux

package server

import (
	"errors"
	"syscall"
)

// poller is Linux only (epoll); elsewhere connections never park and each
// waits for its input on its own goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("server: no poller on this platform") }

func (p *poller) park(*Conn, syscall.RawConn) bool { return false }
func (p *poller) forget(*Conn)                     {}
func (p *poller) close()                           {}
