//go:build !unix

package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir's lock file. Without flock, a second server on the
// same directory is not detected on this platform.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: cannot create lock file: %w", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
