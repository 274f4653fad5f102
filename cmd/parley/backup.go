package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/parleychat/parley/node"
	"github.com/parleychat/parley/store/sqlite"
)

func init() {
	register("backup", "copy the history database to a file, safely, even while a server runs", backup)
}

func backup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley backup", flag.ContinueOnError)
	dir := fs.String("data-dir", node.DefaultDataDir, "data directory of the server to back up")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley backup [-data-dir DIR] FILE\n\nWrites a consistent copy of DIR/parley.db to FILE (which must not exist).")
		fs.PrintDefaults()
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if err := sqlite.Backup(ctx, *dir, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parley: backed up %s to %s\n", *dir, fs.Arg(0))
	return nil
}
