package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
)

type resolveOptions struct {
	target, batch, reason, operator string
	rows                            []string
	list, all, keepSTAR2, takeSTAR1 bool
	wait                            time.Duration
}

func newResolveCommand(g *globalOptions) *cobra.Command {
	o := &resolveOptions{}
	cmd := &cobra.Command{
		Use:   "resolve",
		Short: "Decide on loaded rows changed in STAR2 since the migration wrote them",
		Long: `Social workers change migrated rows in STAR2. A re-run never overwrites such
a row: when STAR1 changed it too, the run reports a conflict, and every later
run reports it again; reconcile --deep (and, for money, every reconcile)
names the row as differing from what the rules give. A re-run never deletes
either: a loaded row the rules now exclude, quarantine or archive (deleted in
STAR1, aged out of the live window) stays in STAR2, and every run reports it.
resolve records what a migration engineer decided about such rows, with who,
when and why (migration.resolution):

  --keep-star2  the row stands as STAR2 has it (or, deleted in STAR2, stays
                deleted). Runs leave it alone until STAR1 changes it again,
                and reconciliation counts it apart instead of as a finding,
                as long as it stays as it was when decided.
  --take-star1  the next run of the batch writes STAR1's version over it,
                unless STAR2 changes it again first. Not for a row the
                rules no longer load: no run writes it.

The rows are named with --row TABLE:ID (STAR1 table and id, repeatable), or
--all (not both) for every open conflict of the batch without a decision (with
--take-star1, only the rows a run can write over: changed on both sides, or
an amount changed in STAR2). --list shows the open conflicts of every kind,
among them the rows STAR2 alone deleted or gave another amount, which no
run reports but every reconciliation names. Nothing is recorded unless
every row named can take the decision: a row that is not loaded, or that
STAR2 holds as the migration wrote it and that no run reported left by the
rules, is refused by name.`,
		Example: `  starmig resolve --target postgres://migrator@localhost/star2 --batch tallinn-2026 --list
  starmig resolve --target postgres://migrator@localhost/star2 --batch tallinn-2026 \
    --row MENETLUS:1042 --row OTSUS:88120 --keep-star2 --reason "corrected by the case worker, ticket 5521"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runResolve(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "STAR2 PostgreSQL URL (default: $STARMIG_TARGET)")
	f.StringVar(&o.batch, "batch", "", "batch name (default: $STARMIG_BATCH)")
	f.BoolVar(&o.list, "list", false, "list the open conflicts of the batch and decide nothing")
	f.StringArrayVar(&o.rows, "row", nil, "a STAR1 row as TABLE:ID, such as MENETLUS:1042 (repeatable)")
	f.BoolVar(&o.all, "all", false, "every open conflict of the batch that has no decision yet")
	f.BoolVar(&o.keepSTAR2, "keep-star2", false, "keep the rows as STAR2 has them")
	f.BoolVar(&o.takeSTAR1, "take-star1", false, "have the next run write STAR1's version over them")
	f.StringVar(&o.reason, "reason", "", "why: kept on record with the decision (required to decide)")
	f.StringVar(&o.operator, "operator", "", "who decides (default: $STARMIG_OPERATOR, else the OS user)")
	f.DurationVar(&o.wait, "wait", 0, waitFlagHelp)
	return cmd
}

func runResolve(cmd *cobra.Command, g *globalOptions, o *resolveOptions) error {
	target := secret.DSN(orEnv(o.target, "STARMIG_TARGET"))
	name := orEnv(o.batch, "STARMIG_BATCH")
	if err := requireFlags(
		[3]string{"target", target.Reveal(), "STARMIG_TARGET"},
		[3]string{"batch", name, "STARMIG_BATCH"},
	); err != nil {
		return err
	}
	if o.list {
		if len(o.rows) > 0 || o.all || o.keepSTAR2 || o.takeSTAR1 || o.reason != "" {
			return usageError("--list decides nothing: leave out --row, --all, --keep-star2, --take-star1 and --reason")
		}
		open, err := batch.Conflicts(cmd.Context(), target, name)
		if err != nil {
			return err
		}
		if open == nil {
			open = []load.Conflict{}
		}
		return g.result(open, func(w io.Writer) { writeConflicts(w, name, open) })
	}
	var d string
	switch {
	case o.keepSTAR2 == o.takeSTAR1:
		return usageError("say what to decide: --keep-star2 or --take-star1 (or --list to see the open conflicts)")
	case o.keepSTAR2:
		d = load.KeepSTAR2
	default:
		d = load.TakeSTAR1
	}
	if len(o.rows) == 0 && !o.all {
		return usageError("name the rows: --row TABLE:ID (repeatable) or --all for every open conflict of the batch")
	}
	if len(o.rows) > 0 && o.all {
		return usageError("--row or --all, not both: --all already takes every open conflict of the batch; to decide other rows too, run resolve again with --row")
	}
	if strings.TrimSpace(o.reason) == "" {
		return usageError("--reason is required: it is kept on record with the decision")
	}
	var rows []load.RowRef
	for _, s := range o.rows {
		r, err := load.ParseRowRef(s)
		if err != nil {
			return usageError("--row %v", err)
		}
		rows = append(rows, r)
	}
	wait, err := waitOrEnv(cmd.Flags(), o.wait)
	if err != nil {
		return err
	}
	done, err := batch.Resolve(cmd.Context(), batch.ResolveOptions{
		Target: target, Batch: name, Rows: rows, AllConflicts: o.all, Decision: d,
		Reason: o.reason, Operator: operatorName(o.operator), Now: time.Now, Wait: wait,
	})
	if err != nil {
		return fmt.Errorf("resolve: nothing was recorded: %w", err)
	}
	if done == nil {
		done = []load.Resolved{}
	}
	return g.result(done, func(w io.Writer) {
		if len(done) == 0 {
			fmt.Fprintf(w, "Batch %s has no open conflict without a decision: nothing was recorded.\n", name)
			return
		}
		fmt.Fprintf(w, "Recorded %s for %s:\n", d, words.Count(len(done), "row"))
		for _, r := range done {
			fmt.Fprintf(w, "  %s %d  star2.%s %s", r.Table, r.Star1ID, r.Star2Table, r.Star2ID)
			if r.Deleted {
				fmt.Fprint(w, "  (deleted in STAR2)")
			}
			fmt.Fprintln(w)
		}
		if d == load.TakeSTAR1 {
			fmt.Fprintf(w, "The next run of batch %s writes STAR1's version over them.\n", name)
		}
	})
}

func writeConflicts(w io.Writer, batchName string, open []load.Conflict) {
	if len(open) == 0 {
		fmt.Fprintf(w, "Batch %s has no open conflict.\n", batchName)
		return
	}
	fmt.Fprintf(w, "Batch %s: %s:\n", batchName, words.Count(len(open), "open conflict"))
	for _, c := range open {
		what := "changed in STAR1 and in STAR2 since the migration wrote it" + load.ConflictColumns(c.Detail)
		if c.Kind != load.ChangedOnBothSides {
			what = c.Detail
		}
		fmt.Fprintf(w, "  %s:%d  star2.%s %s  (run %d)  %s", c.Table, c.Star1ID, c.Star2Table, c.Star2ID, c.RunID, what)
		if c.Decision != "" {
			fmt.Fprintf(w, "  decided %s by %s at %s; the next run applies it", c.Decision, c.Operator, c.DecidedAt.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
}
