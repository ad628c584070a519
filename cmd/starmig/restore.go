package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
)

type restoreOptions struct {
	to, batch, kov, schema, reason, operator string
	skipUnreadable                           bool
	reader                                   readerFlags
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore archived STAR1 tables into PostgreSQL, in a crisis",
		Long: `restore loads the STAR1 tables of the newest archive run (of any batch: every
run holds all of STAR1 as it was then; or of --batch) into a new PostgreSQL
schema, exactly as STAR1 held them: ids as bigint, money as numeric(12,2),
DATE as timestamp without time zone (wall-clock), text as text, BLOBs as
bytea. Text PostgreSQL cannot hold (NUL characters) is also kept byte for
byte in exact_text. Every bundle's signature and every payload file's
digests are checked as it is read, row counts and money sums are compared
with the signed catalog, and any mismatch rolls the whole restore back.
--kov keeps only the chosen municipalities (codes as STAR1 holds them).
The restore is put on record in the audit log.

--skip-unreadable, for a crisis in which the archive is damaged, restores
what can be read instead: a bundle or payload file that is missing, damaged
or not as its signature and digests say is left out, named with its table
and rows, and listed in the schema's table restore_unread; of a file with
damaged bytes inside, only the blocks they fall in are left out. The
command then exits 4. Errors of the storage or the database, and keys that
do not fit, still roll everything back.

A whole restore is a STAR1 that migrate, reconcile and archive read, once
STAR1 itself is gone: --source postgres://…/crisis?schema=star1_archive.
A restore with --kov is not: it lacks rows its own rows depend on. Nor is
one that left out what it could not read.`,
		Example: `  starmig restore --archive s3://star1-archive/prod --keys keys/ --to postgres://restorer@db/crisis --batch 2026-final`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runRestore(cmd, g, o) },
	}
	f := cmd.Flags()
	o.reader.add(f, "age identity file")
	f.StringVar(&o.to, "to", "", "PostgreSQL URL to restore into (default: $STARMIG_RESTORE_TARGET)")
	f.StringVar(&o.batch, "batch", "", "batch whose newest run to restore (default: the newest run of any batch)")
	f.StringVar(&o.kov, "kov", "", "municipality codes to keep, comma-separated (default: all)")
	f.StringVar(&o.schema, "schema", "star1_archive", "schema to create: lowercase letters, digits and _")
	f.StringVar(&o.reason, "reason", "restore", "why (goes into the audit log)")
	f.StringVar(&o.operator, "operator", "", "who restores (default: $STARMIG_OPERATOR, else the OS user)")
	f.BoolVar(&o.skipUnreadable, "skip-unreadable", false, "leave out, and list, the bundles and payload files that cannot be read as written, instead of restoring nothing; exits 4 if it left out any")
	return cmd
}

func runRestore(cmd *cobra.Command, g *globalOptions, o *restoreOptions) error {
	kovs, err := codeList("kov", o.kov)
	if err != nil {
		return err
	}
	if err := checkSchemaName(o.schema); err != nil {
		return err
	}
	to := secret.DSN(orEnv(o.to, "STARMIG_RESTORE_TARGET"))
	st, pub, ids, err := o.reader.openDecrypting([3]string{"to", to.Reveal(), "STARMIG_RESTORE_TARGET"})
	if err != nil {
		return err
	}
	// A --to that is no PostgreSQL connection string is named before the
	// archive is read, not after a search for the run.
	if err := checkDSNFlag("--to", to); err != nil {
		return err
	}
	ctx := cmd.Context()
	start := time.Now()
	// Every run holds all of STAR1: without --batch, the newest run of any
	// batch is STAR1 as it was last.
	newest, others, err := archive.NewestCatalog(ctx, st, pub, o.batch)
	if err != nil {
		return err
	}
	cats := []*archive.Catalog{newest}
	conn, err := batch.Connect(ctx, to)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer conn.Close(ctx)
	r := archive.NewReader(st, pub, ids, nil)
	// The restore is put on record once it has passed every check and
	// before it is committed: a restore refused or rolled back (a mistyped
	// --kov, a schema that exists, a digest that does not match) leaves no
	// entry saying it happened.
	var audit string
	onRecord := func(rs *archive.RestoreStats) error {
		var rows int64
		for _, s := range rs.Tables {
			rows += s.Rows
		}
		query := restoreQuery(cats[0].Batch, cats[0].Run, kovs, o.schema)
		if len(rs.Unread) > 0 {
			query += fmt.Sprintf(", leaving out %s it could not read", words.Count(len(rs.Unread), "part"))
		}
		var err error
		audit, err = putOnRecord(ctx, st, cats, archive.AuditEntry{
			Time: start.UTC(), Operator: operatorName(o.operator), Action: "restore",
			Query:  query,
			Reason: o.reason, Found: true, Rows: int(rows),
		})
		if err != nil {
			return fmt.Errorf("restore: not put on record, so nothing restored: %w", err)
		}
		return nil
	}
	ro := archive.RestoreOptions{Schema: o.schema, KOV: kovs, Log: g.log, BeforeCommit: onRecord, SkipUnreadable: o.skipUnreadable}
	prog := g.phaseProgress()
	if hook := prog.hook(); hook != nil {
		ro.Progress = func(rows, total int64) { hook("restore", "STAR1", rows, total) }
	}
	rs, err := r.Restore(ctx, conn, cats[0], ro)
	prog.finish()
	var unknown *archive.UnknownKOVError
	if errors.As(err, &unknown) {
		return &codedError{code: exitUsage, err: err}
	}
	if err != nil && (archive.StorageFault(err) || pgsession.ServerFault(conn, err)) {
		// Not the archive: the same restore goes through once the
		// storage or the database is put right.
		return fmt.Errorf("%w\nNothing was restored: a restore is one transaction, and this one was rolled back. Once the cause is put right, run the same command again", err)
	}
	if err != nil {
		return err
	}
	if err := g.result(rs, func(w io.Writer) {
		fmt.Fprintf(w, "Restored batch %s run %s into schema %s in %.1fs (on record: %s):\n", cats[0].Batch, cats[0].Run, rs.Schema, time.Since(start).Seconds(), audit)
		if len(others) > 0 {
			fmt.Fprintf(w, "  the newest archive run, written %s; the other batches of the archive (%s) hold earlier runs, and --batch restores the newest of one\n",
				cats[0].Created.UTC().Format(time.RFC3339), strings.Join(others, ", "))
		}
		for _, n := range extract.InTableOrder(rs.Tables) {
			fmt.Fprintf(w, "  %-15s %9d rows\n", n, rs.Tables[n].Rows)
		}
		printLeftOut(w, rs.LeftOut)
		printUnread(w, rs)
	}); err != nil {
		return err
	}
	if len(rs.Unread) > 0 {
		return &codedError{code: exitVerification, err: fmt.Errorf("restore left out %s of the archive run it could not read", words.Count(len(rs.Unread), "part"))}
	}
	return nil
}

// restoreQuery is what a restore puts on record as its query: the run,
// the municipalities (all of them without --kov) and the schema.
func restoreQuery(batch, run string, kovs []string, schema string) string {
	which := "all municipalities"
	if len(kovs) > 0 {
		which = "municipalities " + strings.Join(kovs, ",")
	}
	return fmt.Sprintf("batch %s run %s, %s, into schema %s", batch, run, which, schema)
}

// printUnread lists what a restore --skip-unreadable left out, and what
// it restored from reference copies instead.
func printUnread(w io.Writer, rs *archive.RestoreStats) {
	if len(rs.FromCopy) > 0 {
		fmt.Fprintf(w, "Restored whole from reference copies, as their own payload could not be read (verify --level full names every damaged object): %s.\n", strings.Join(rs.FromCopy, "; "))
	}
	if len(rs.Unread) == 0 {
		return
	}
	var rows int64
	for _, u := range rs.Unread {
		rows += u.Rows
	}
	fmt.Fprintf(w, "Left out as unreadable (%s, listed in %s.%s); verify --level full names every damaged object:\n", words.Count(rows, "row"), rs.Schema, extract.PostgresUnreadTable)
	for _, u := range rs.Unread {
		where := "the whole bundle"
		if u.File != "" {
			where = u.File
		}
		money := ""
		for _, col := range slices.Sorted(maps.Keys(u.Money)) {
			money += fmt.Sprintf(" (%s %s)", col, u.Money[col])
		}
		fmt.Fprintf(w, "  bundle %s, %s: %s of %s%s: %s\n", u.Bundle, where, words.Count(u.Rows, "row"), u.Table, money, words.Printable(u.Reason))
	}
	if len(rs.MoneyUnchecked) > 0 {
		fmt.Fprintf(w, "Row counts are checked; money sums are not for %s, as the bundles of the rows left out were written before they kept the money of each block.\n", strings.Join(rs.MoneyUnchecked, ", "))
	} else {
		fmt.Fprintln(w, "Row counts and money sums are checked: what was restored and what was left out add up to the catalog's.")
	}
}

// schemaName is a name PostgreSQL takes as it is written, unquoted: the
// restored schema is then named the same way in ?schema=, in psql and in
// SQL, with no quoting to get right. pg_ is PostgreSQL's own.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// checkSchemaName refuses a --schema a person could not later name
// without quotes (Upper, star1-archive, a name with spaces) or that
// PostgreSQL keeps for itself.
func checkSchemaName(name string) error {
	if !schemaName.MatchString(name) || strings.HasPrefix(name, "pg_") {
		return usageError("--schema %q: want lowercase letters, digits and _, starting with a letter or _, at most 63 characters, not starting with pg_", name)
	}
	return nil
}
