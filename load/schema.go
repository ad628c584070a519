// Package load writes STAR2: its schema, the migration's bookkeeping, and
// live rows by COPY.
package load

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed sql/star2.sql
var star2SQL string

//go:embed sql/migration.sql
var migrationSQL string

// schemaLock serialises schema changes of concurrent starmig processes.
const schemaLock = 0x53544152 // "STAR"

// ApplySchema creates the star2 schema of STAR2.md and the migration
// bookkeeping schema. It is idempotent, and leaves a star2 that someone
// else created as it is.
func ApplySchema(ctx context.Context, conn *pgx.Conn) error {
	return apply(ctx, conn, star2SQL, migrationSQL)
}

// ApplyBookkeeping creates only the migration schema, for production
// STAR2 databases whose star2 schema their owners manage.
func ApplyBookkeeping(ctx context.Context, conn *pgx.Conn) error {
	return apply(ctx, conn, migrationSQL)
}

// star2Tables are the tables of star2.sql, in the order it creates them.
var star2Tables = func() []string {
	var names []string
	for _, m := range regexp.MustCompile(`CREATE TABLE IF NOT EXISTS (star2\.\w+)`).FindAllStringSubmatch(star2SQL, -1) {
		names = append(names, m[1])
	}
	return names
}()

// MissingSTAR2Error says that the target lacks tables of the star2 schema
// that a batch writes.
type MissingSTAR2Error struct {
	Tables []string
}

func (e *MissingSTAR2Error) Error() string {
	return fmt.Sprintf("the target has no %s: it is not a STAR2 database, or its schema was never applied "+
		"(run \"starmig schema apply --target ...\" first)", strings.Join(e.Tables, ", "))
}

// CheckSTAR2 makes sure the target holds every table of the star2 schema,
// before a batch writes anything.
func CheckSTAR2(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)
		WHERE to_regclass(t) IS NULL ORDER BY n`, star2Tables)
	if err != nil {
		return fmt.Errorf("schema: check star2: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("schema: check star2: %w", err)
	}
	if len(missing) > 0 {
		return &MissingSTAR2Error{Tables: missing}
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, scripts ...string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("schema: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
		return fmt.Errorf("schema: lock: %w", err)
	}
	for _, s := range scripts {
		// Simple protocol: a script of several statements in one call.
		if _, err := tx.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("schema: apply: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("schema: commit: %w", err)
	}
	return nil
}
