package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: Close
// must stop everything a client started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
