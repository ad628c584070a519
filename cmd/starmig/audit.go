package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/words"
)

type auditOptions struct {
	from, since, until, operator, query string
	keys                                keyFlags
}

func newAuditCommand(g *globalOptions) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the archive's audit log: who retrieved, restored or decrypted what, when and why",
		Long: `audit reads the entries that retrieve, restore and a key holder's verify
put on record in the archive, oldest first: when, who (--operator, the OS
user and host), what (the query, the run and municipalities restored, or
the check and its restore drill), why, and whether the archive held
anything. The entries are encrypted to the archive's recipients, so
reading them takes the decryption identity; on S3 each is a locked object
that no one can rewrite or delete.

--since and --until (YYYY-MM-DD, UTC; --until is the first day left out)
choose entries by the time in their key, so that only those are fetched.
--operator keeps the entries of one operator or OS user, and --query those
whose query contains the text, such as a personal code or a proceeding id.
An object under audit/ that cannot be read as an entry (damaged, or
encrypted to recipients whose identity was not given) is listed as
UNREADABLE with the reason, whatever the filters, and the command exits 4
after listing the rest. Reading the log is not itself put on record.`,
		Example: `  starmig audit --archive s3://star1-archive/prod --keys keys/ --since 2026-11-01
  starmig audit --archive file:///srv/archive --identity identity.txt --query 38001010014 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAudit(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "archive", "", "archive: file:///path or s3://bucket/prefix (default: $STARMIG_ARCHIVE)")
	o.keys.addDir(f)
	f.StringVar(&o.keys.identity, "identity", "", "age identity file"+passphraseHelp)
	f.StringVar(&o.since, "since", "", "first day of entries to read, YYYY-MM-DD (UTC)")
	f.StringVar(&o.until, "until", "", "first day of entries not to read, YYYY-MM-DD (UTC)")
	f.StringVar(&o.operator, "operator", "", "only the entries of this operator or OS user")
	f.StringVar(&o.query, "query", "", "only the entries whose query contains this text")
	return cmd
}

func runAudit(cmd *cobra.Command, g *globalOptions, o *auditOptions) error {
	from := orEnv(o.from, "STARMIG_ARCHIVE")
	if err := requireFlags([3]string{"archive", from, "STARMIG_ARCHIVE"}, o.keys.identityFile()); err != nil {
		return err
	}
	day := func(name, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		return parseDay(name, v)
	}
	since, err := day("since", o.since)
	if err != nil {
		return err
	}
	until, err := day("until", o.until)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return usageError("--since %s is not before --until %s: no day between them", o.since, o.until)
	}
	st, err := archive.OpenStore(from, os.Getenv)
	if err != nil {
		return usageError("%v", err)
	}
	ids, err := o.keys.readIdentities()
	if err != nil {
		return err
	}
	all, err := archive.ReadAuditBetween(cmd.Context(), st, ids, since, until)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		if err := holdsAnArchive(cmd.Context(), st, "and so no audit log"); err != nil {
			return err
		}
	}
	entries := make([]archive.AuditRecord, 0, len(all))
	unreadable := 0
	for _, e := range all {
		if e.Unreadable != "" {
			// Whose it is cannot be told, so no filter leaves it out.
			entries = append(entries, e)
			unreadable++
			continue
		}
		if o.operator != "" && e.Operator != o.operator && e.OSUser != o.operator {
			continue
		}
		if o.query != "" && !strings.Contains(e.Query, strings.TrimSpace(o.query)) {
			continue
		}
		entries = append(entries, e)
	}
	if err := g.result(entries, func(w io.Writer) { writeAudit(w, st.String(), entries, len(all)) }); err != nil {
		return err
	}
	if unreadable > 0 {
		return &codedError{code: exitVerification, err: fmt.Errorf("%s under audit/ cannot be read as audit entries", words.Count(unreadable, "object"))}
	}
	return nil
}

// holdsAnArchive refuses a store that holds no archive run: an --archive
// mistyped, given a folder or two too high, or copied from a listing, whose
// empty audit log would read as "nobody read anything". Where a folder
// below holds an archive, or the store is a folder inside one, it says so.
func holdsAnArchive(ctx context.Context, st archive.Store, so string) error {
	runs, err := archive.ListRuns(ctx, st, "")
	if err != nil || len(runs) > 0 {
		return err
	}
	where, err := archive.Elsewhere(ctx, st, false)
	if err != nil {
		return err
	}
	if where == "" {
		where = "is --archive the archive's URL?"
	}
	return fmt.Errorf("%s holds no archive, %s; %s", st, so, where)
}

func writeAudit(w io.Writer, where string, entries []archive.AuditRecord, read int) {
	unreadable := 0
	for _, e := range entries {
		if e.Unreadable != "" {
			unreadable++
		}
	}
	fmt.Fprintf(w, "Audit log of %s: %s", where, words.Count(len(entries)-unreadable, "entry"))
	if len(entries) != read {
		fmt.Fprintf(w, " of the %d read", read-unreadable)
	}
	if unreadable > 0 {
		fmt.Fprintf(w, ", and %s that cannot be read", words.Count(unreadable, "object"))
	}
	fmt.Fprintln(w, ".")
	for _, e := range entries {
		if e.Unreadable != "" {
			fmt.Fprintf(w, "  UNREADABLE %s\n      %s\n", words.Printable(e.Key), words.Printable(e.Unreadable))
			continue
		}
		who := e.Operator
		if e.OSUser != "" && e.OSUser != e.Operator {
			who += " (OS user " + e.OSUser + ")"
		}
		if e.Host != "" {
			who += " on " + e.Host
		}
		what := e.Query
		switch {
		case e.Action == "retrieve" && e.Found:
			what += ": " + words.Count(e.Rows, "row")
		case e.Action == "retrieve":
			what += ": nothing found"
		case e.Rows > 0:
			// A restore is on record with the rows it restored; entries
			// written before the count was kept have none.
			what += ": " + words.Count(e.Rows, "row") + " restored"
		}
		// What people typed (a reason, an operator's name) is shown, not
		// obeyed, by the auditor's terminal.
		fmt.Fprintf(w, "  %s  %-8s %s\n      %s\n      why: %s\n      %s\n", e.Time.UTC().Format(time.RFC3339), words.Printable(e.Action),
			words.Printable(who), words.Printable(what), words.Printable(e.Reason), words.Printable(e.Key))
	}
}
