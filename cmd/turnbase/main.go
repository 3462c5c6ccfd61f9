// Command turnbase is the turnbase game server.
//
//	turnbase serve [flags]    run the server (the default)
//	turnbase help             list the flags and their environment variables
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "turnbase:", err)
		os.Exit(1)
	}
}
