// Command signet is Signet's one binary: the server and its operator commands.
//
// Exit codes: 0 success; 1 failure while running; 2 invalid usage or configuration;
// 3 `migrate status` found pending migrations.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPending = 3
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what commands read besides flags: the process environment and output streams.
type env struct {
	environ []string
	stdout  io.Writer
	stderr  io.Writer
	// hup delivers SIGHUP (re-read certificates); nil in tests.
	hup <-chan struct{}
	// stdin is what interactive commands read; nil means the process's standard input.
	stdin io.Reader
}

// input is what interactive commands read.
func (e *env) input() io.Reader {
	if e.stdin != nil {
		return e.stdin
	}
	return os.Stdin
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	e := &env{environ: environ, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "signet:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command or flag) are usage errors.
	fmt.Fprintln(stderr, "signet:", err)
	if isCobraUsageError(err) {
		return exitUsage
	}
	return exitFailure
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "signet",
		Short: "Signet: a self-hosted mobile identity platform",
		Long: "Signet is an OpenID Connect provider whose strongest factor is the user's own phone.\n" +
			"Exit codes: 0 success, 1 failure, 2 invalid usage or configuration, 3 migrations pending (migrate status).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(e), newConfigCmd(e), newMigrateCmd(e), newKeysCmd(e), newAdminCmd(e), newBenchCmd(e), newAuthenticatorCmd(e), newReceiptCmd(e), newVersionCmd(e))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr(err) })
	return root
}

func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
