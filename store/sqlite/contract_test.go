package sqlite_test

import (
	"testing"

	"github.com/parleychat/parley/chat"
	"github.com/parleychat/parley/store/sqlite"
	"github.com/parleychat/parley/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, retain int) chat.Store {
		s, err := sqlite.Open(t.TempDir(), sqlite.Options{RetainMessages: retain})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	})
}
