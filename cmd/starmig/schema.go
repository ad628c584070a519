package main

import (
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/load"
)

func newSchemaCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Create the STAR2 schema and the migration bookkeeping",
		Args:  noArgs,
	}
	var target string
	var bookkeepingOnly bool
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Create star2 and migration schemas in a PostgreSQL database, idempotently",
		Long: `apply creates the star2 schema exactly as STAR2.md defines it, and the
migration schema with the bookkeeping (runs, batches, row outcomes,
quarantine, corrections, conflicts, decisions on them and the view
migration.row_outcome).
Running it again changes nothing; a star2 schema created by someone else is
left as it is.`,
		Example: `  starmig schema apply --target postgres://migrator@localhost:5432/star2
  STARMIG_TARGET=postgres://migrator@db/star2 starmig schema apply --bookkeeping-only`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target = orEnv(target, "STARMIG_TARGET")
			if err := requireFlag("target", target, "STARMIG_TARGET"); err != nil {
				return err
			}
			dsn := secret.DSN(target)
			if err := secret.CheckPassword(dsn.Reveal()); err != nil {
				return fmt.Errorf("target %w", err)
			}
			cfg, err := pgsession.ParseConfig(dsn.Reveal())
			if err != nil {
				return fmt.Errorf("target %s: %w", dsn, secret.ConfigError(err, dsn.Reveal()))
			}
			pgsession.Configure(&cfg.Config, nil)
			conn, err := pgx.ConnectConfig(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("connect to %s: %s", dsn, secret.Redact(err.Error(), dsn.Reveal()))
			}
			defer conn.Close(cmd.Context())
			if bookkeepingOnly {
				err = load.ApplyBookkeeping(cmd.Context(), conn)
			} else {
				err = load.ApplySchema(cmd.Context(), conn)
			}
			if err != nil {
				return err
			}
			return g.result(map[string]any{"target": dsn.String(), "applied": true, "bookkeeping_only": bookkeepingOnly}, func(w io.Writer) {
				fmt.Fprintf(w, "schema applied to %s\n", dsn)
			})
		},
	}
	apply.Flags().StringVar(&target, "target", "", "STAR2 PostgreSQL URL (default: $STARMIG_TARGET)")
	apply.Flags().BoolVar(&bookkeepingOnly, "bookkeeping-only", false, "create only the migration schema (star2 is managed by its owners)")
	cmd.AddCommand(apply)
	return cmd
}
