package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/words"
)

func newReconcileCommand(g *globalOptions) *cobra.Command {
	var source, target, mappings, batchName, report string
	var deep bool
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Prove that every STAR1 row of a batch is accounted for and STAR2 holds what the rules say",
		Long: `reconcile checks a batch that ran, for every STAR1 table, per municipality
and in total:

    source rows = loaded + merged + archived_only + excluded_deleted + quarantined

and the same for money (OTSUS.SUMMA, MAKSE.SUMMA in euros) to the cent; then
STAR2 against the bookkeeping: every loaded row present, with its money. With
--deep every loaded row is recomputed from STAR1 by the rules and compared
with STAR2 column by column. It exits 3 naming every row that differs.`,
		Example: `  starmig reconcile --source sqlite:star1.db --target postgres://migrator@localhost/star2 \
    --mappings mappings/ --batch tallinn-2026 --deep --report reconciliation.md`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := resolveBatchInputs(source, target, mappings, batchName)
			if err != nil {
				return err
			}
			if err := checkReport(report); err != nil {
				return err
			}
			prog := g.phaseProgress()
			rep, err := batch.Reconcile(cmd.Context(), batch.ReconcileOptions{
				Source: in.source, Target: in.target, Mappings: in.mappings, Batch: in.batch, Deep: deep, Progress: prog.hook(),
			})
			prog.finish()
			var findings *batch.FindingsError
			if err != nil && !errors.As(err, &findings) {
				return err
			}
			if werr := writeReport(report, rep); werr != nil {
				return werr
			}
			if perr := g.result(rep, func(w io.Writer) { printReconciliation(w, rep, report) }); perr != nil {
				return perr
			}
			if findings != nil {
				return &codedError{code: exitFindings, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "STAR1: sqlite:PATH, oracle://… or postgres://…?schema=star1_archive (a restored archive) (default: $STARMIG_SOURCE)")
	f.StringVar(&target, "target", "", "STAR2 PostgreSQL URL (default: $STARMIG_TARGET)")
	f.StringVar(&mappings, "mappings", "", "mapping folder (default: $STARMIG_MAPPINGS)")
	f.StringVar(&batchName, "batch", "", "batch name (default: $STARMIG_BATCH)")
	f.BoolVar(&deep, "deep", false, "recompute every loaded row from STAR1 and compare it with STAR2")
	f.StringVar(&report, "report", "", "write the reconciliation to this file: Markdown, or HTML if it ends in .html")
	return cmd
}

// printReconciliation tells a reconciliation as text: which batch and how
// deep, the identity per table, the verdict (findings, when there are
// any, follow as the error) and the report file.
func printReconciliation(w io.Writer, rep *batch.Report, report string) {
	how := ""
	if rep.Deep {
		how = " (deep)"
	}
	fmt.Fprintf(w, "Reconciliation of batch %s%s:\n", rep.Batch, how)
	batch.WriteText(w, rep)
	switch {
	case !rep.OK():
		fmt.Fprintf(w, "The batch does not reconcile: %s, listed below.\n", words.Count(int64(len(rep.Findings))+rep.More, "finding"))
	case rep.Deep:
		fmt.Fprintln(w, "The batch reconciles: every STAR1 row is accounted for, and every loaded row in STAR2 is what the rules give.")
	default:
		fmt.Fprintln(w, "The batch reconciles: every STAR1 row is accounted for; STAR2 holds what the rules say.")
	}
	if report != "" {
		fmt.Fprintf(w, "Report: %s\n", report)
	}
}
