// Command starmig moves STAR1, the legacy social-services register, into
// STAR2 and into an archive abroad. See `starmig --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
)

// Exit codes, documented in the root command's help.
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitFindings     = 3 // reconciliation or pre-flight findings
	exitVerification = 4 // verification findings
	exitInterrupted  = 130
)

// codedError carries the exit code of an error that is not a plain failure.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &codedError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var c *codedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &c):
		return c.code
	case errors.As(err, new(*secret.DSNError)), errors.As(err, new(*archive.InsideArchiveError)),
		errors.As(err, new(*archive.AboveArchiveError)):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitError
	}
}

// gcPercent and memoryLimit are the garbage collector's settings unless
// GOGC or GOMEMLIMIT say otherwise. starmig streams: its live heap is small
// and flat, and the default (100 %) spends a tenth of a migration's CPU on
// collecting it. Four times the live heap is still small; the soft limit
// makes the collector work harder before a large archive run could come
// near the 512 MiB budget.
const (
	gcPercent   = 400
	memoryLimit = 256 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(execute(ctx, os.Args[1:]))
}

// execute runs the command line and returns the exit code; main is the
// one place that exits.
func execute(ctx context.Context, args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil {
		// A signal stopped the work: whatever error that surfaced as, it is
		// an interruption, and a re-run continues from it.
		fmt.Fprintln(root.ErrOrStderr(), "starmig: interrupted")
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintln(root.ErrOrStderr(), errorLine(err))
	}
	return exitCode(err)
}

// errorLine is how an error is printed. It may quote what starmig read
// (a code, a key, an archive's bytes): a terminal shows that, and does not
// obey it. A PostgreSQL refusal whose words do not say what to do gets a
// line that does (pgsession.Explain), as does an Oracle error of STAR1
// (extract.Explain), and so does a connection cut off;
// that line comes straight after the cause's, before what the command
// adds of its own (a batch's "Run N stopped").
func errorLine(err error) string {
	line := "starmig: " + words.PrintableLines(err.Error())
	why := pgsession.Explain(err.Error())
	if why == "" {
		why = extract.Explain(err.Error())
	}
	if why == "" && pgsession.CutOff(err.Error()) {
		why = cutOffWhy
	}
	if why == "" {
		return line
	}
	cause, rest, more := strings.Cut(line, "\n")
	line = cause + "\n" + why
	if more {
		line += "\n" + rest
	}
	return line
}

const cutOffWhy = "The connection was cut without a word from the server at its other end: the server was stopped, restarted, killed or failed over, " +
	"or the network between dropped the connection; the server's log says which. Once it answers again, run the same command again: " +
	"nothing is lost, and a batch or an archive run goes on from what it had done."
