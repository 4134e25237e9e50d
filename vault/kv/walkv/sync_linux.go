package walkv

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync syncs the log's data (and its size), not its times.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
