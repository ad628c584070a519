// Command withservices starts a private PostgreSQL and a private MinIO,
// runs the command it is given with their addresses in the environment
// (see package testenv), and stops both afterwards, also when the command
// fails or is interrupted. It exits with the command's exit code.
//
//	go run ./internal/testenv/withservices -- go test ./...
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/starmig/starmig/internal/minioserver"
	"github.com/starmig/starmig/internal/pgserver"
	"github.com/starmig/starmig/internal/testenv"
)

func main() {
	os.Exit(run())
}

func run() int {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withservices -- COMMAND [ARG...]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pg, err := pgserver.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withservices:", err)
		return 1
	}
	defer stopService("PostgreSQL", pg.Stop)
	mo, err := minioserver.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withservices:", err)
		return 1
	}
	defer stopService("MinIO", mo.Stop)
	fmt.Fprintf(os.Stderr, "withservices: PostgreSQL on 127.0.0.1:%d, MinIO on %s\n", pg.Port, mo.Endpoint)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		testenv.EnvPG+"="+pg.DSN,
		testenv.EnvS3Endpoint+"="+mo.Endpoint,
		testenv.EnvS3AccessKey+"="+mo.AccessKey,
		testenv.EnvS3SecretKey+"="+mo.SecretKey,
	)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withservices:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		return 1
	case err != nil:
		fmt.Fprintln(os.Stderr, "withservices:", err)
		return 1
	}
	return 0
}

func stopService(name string, stop func() error) {
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "withservices: stop %s: %v\n", name, err)
	}
}
