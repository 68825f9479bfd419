package main

import (
	"context"
	"errors"
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
		os.Exit(exitCode(err))
	}
}

// exitCode tells a script how the command ended: 1 for a failed sync or any other error, exitNotFinished
// for a wait that ended before the sync did.
func exitCode(err error) int {
	if errors.As(err, &notFinishedError{}) {
		return exitNotFinished
	}
	return 1
}
