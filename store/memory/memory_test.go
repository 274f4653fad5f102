package memory_test

import (
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/memory"
	"github.com/parleychat/parley/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, retain int) chat.Store { return memory.New(retain) })
}
