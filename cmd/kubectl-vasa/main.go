package main

import (
	"context"
	"os"
	"os/signal"

	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a := &app{out: os.Stdout, errOut: os.Stderr, live: term.IsTerminal(int(os.Stdout.Fd()))}
	cmd := a.rootCommand()
	if err := cmd.ExecuteContext(ctx); err != nil {
		a.printError(err)
		stop()
		os.Exit(1)
	}
}
