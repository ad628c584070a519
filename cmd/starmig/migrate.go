package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

type migrateOptions struct {
	source, target, mappings, batch, asOf, kov, report string
	archive                                            string
	writer                                             writerFlags
	liveYears, writers                                 int
	wait                                               time.Duration
	allowUnmapped                                      bool
}

func newMigrateCommand(g *globalOptions) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Run a migration batch: extract STAR1, map by the rules, load live data into STAR2, reconcile",
		Long: `migrate runs one batch over one consistent snapshot of STAR1: a pre-flight
of the classifier codes in use, a plan of every row's outcome by the rules,
the load of live rows into STAR2 with the bookkeeping of every row, and the
reconciliation of what it did. Running the same batch again completes an
interrupted run, adds and updates what changed in STAR1, and never
overwrites a STAR2 row changed since the migration wrote it.`,
		Example: `  starmig migrate --source sqlite:star1.db --target postgres://migrator@localhost/star2 \
    --mappings mappings/ --batch tallinn-2026 --kov 0100 --as-of 2026-11-01
  STARMIG_SOURCE=oracle://reader:pw@star1:1521/STAR1 STARMIG_TARGET=postgres://migrator@db/star2 \
    starmig migrate --mappings /etc/starmig/mappings --batch all`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrate(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.source, "source", "", "STAR1: sqlite:PATH, oracle://user:password@host:port/service, or postgres://user:password@host:port/db?schema=star1_archive for STAR1 restored from the archive (default: $STARMIG_SOURCE)")
	f.StringVar(&o.target, "target", "", "STAR2 PostgreSQL URL (default: $STARMIG_TARGET)")
	f.StringVar(&o.mappings, "mappings", "", "mapping folder with municipalities.csv and classifiers.csv (default: $STARMIG_MAPPINGS)")
	f.StringVar(&o.batch, "batch", "", "batch name (default: $STARMIG_BATCH)")
	f.StringVar(&o.asOf, "as-of", "", "reference date YYYY-MM-DD (default: $STARMIG_AS_OF, else today in Estonia)")
	f.IntVar(&o.liveYears, "live-years", 0, "years before the reference date that a closed proceeding stays live (default: $STARMIG_LIVE_YEARS, else 5)")
	f.StringVar(&o.kov, "kov", "", "STAR2 municipality codes of the batch, comma-separated (default: $STARMIG_KOV, else all)")
	f.IntVar(&o.writers, "writers", 0, "PostgreSQL connections the load writes on at once (default: $STARMIG_WRITERS, else 2)")
	f.DurationVar(&o.wait, "wait", 0, waitFlagHelp)
	f.BoolVar(&o.allowUnmapped, "allow-unmapped", false, "quarantine rows with unmapped classifier codes instead of stopping (default: $STARMIG_ALLOW_UNMAPPED, true or false)")
	f.StringVar(&o.report, "report", "", "write the reconciliation to this file: Markdown, or HTML if it ends in .html")
	f.StringVar(&o.archive, "archive", "", "also archive all of STAR1 from the same read: file:///path or s3://bucket/prefix (default: $STARMIG_ARCHIVE; see starmig archive)")
	o.writer.add(f)
	return cmd
}

type batchInputs struct {
	source, mappings, batch string
	target                  secret.DSN
}

func resolveBatchInputs(source, target, mappings, batchName string) (batchInputs, error) {
	in := batchInputs{
		source: orEnv(source, "STARMIG_SOURCE"), target: secret.DSN(orEnv(target, "STARMIG_TARGET")),
		mappings: orEnv(mappings, "STARMIG_MAPPINGS"), batch: orEnv(batchName, "STARMIG_BATCH"),
	}
	if err := requireFlags(
		[3]string{"source", in.source, "STARMIG_SOURCE"}, [3]string{"target", in.target.Reveal(), "STARMIG_TARGET"},
		[3]string{"mappings", in.mappings, "STARMIG_MAPPINGS"}, [3]string{"batch", in.batch, "STARMIG_BATCH"},
	); err != nil {
		return in, err
	}
	return in, checkSource(in.source)
}

// waitFlagHelp is the help of --wait, for every command that takes the
// run lock of STAR2.
const waitFlagHelp = "how long to wait for another batch's run on the same STAR2 to end, such as 30s or 2h; 0s does not wait (default: $STARMIG_WAIT, else 30s)"

// waitOrEnv resolves --wait: the flag when given, else $STARMIG_WAIT, else
// load.DefaultWait.
func waitOrEnv(flags *pflag.FlagSet, wait time.Duration) (time.Duration, error) {
	if !flags.Changed("wait") {
		wait = load.DefaultWait
		if v := os.Getenv("STARMIG_WAIT"); v != "" {
			var err error
			if wait, err = time.ParseDuration(v); err != nil {
				return 0, usageError("$STARMIG_WAIT %q: want a duration such as 30s or 2h", v)
			}
		}
	}
	if wait < 0 {
		return 0, usageError("--wait %s: must not be negative", wait)
	}
	return wait, nil
}

func runMigrate(cmd *cobra.Command, g *globalOptions, o *migrateOptions) error {
	in, err := resolveBatchInputs(o.source, o.target, o.mappings, o.batch)
	if err != nil {
		return err
	}
	if err := checkBatchName(in.batch); err != nil {
		return err
	}
	asOf, err := parseAsOf(orEnv(o.asOf, "STARMIG_AS_OF"), time.Now())
	if err != nil {
		return err
	}
	flags := cmd.Flags()
	years, err := intOrEnv(flags, "live-years", o.liveYears, "STARMIG_LIVE_YEARS", 5)
	if err != nil {
		return err
	}
	if years < 0 {
		return usageError("--live-years %d: must not be negative", years)
	}
	writers, err := intOrEnv(flags, "writers", o.writers, "STARMIG_WRITERS", batch.DefaultWriters)
	if err != nil {
		return err
	}
	if writers < 1 {
		return usageError("--writers %d: want at least 1", writers)
	}
	if err := checkReport(o.report); err != nil {
		return err
	}
	if o.wait, err = waitOrEnv(flags, o.wait); err != nil {
		return err
	}
	if !flags.Changed("allow-unmapped") {
		if v := os.Getenv("STARMIG_ALLOW_UNMAPPED"); v != "" {
			if o.allowUnmapped, err = strconv.ParseBool(v); err != nil {
				return usageError("$STARMIG_ALLOW_UNMAPPED %q: want true or false", v)
			}
		}
	}
	kovs, err := codeList("kov", orEnv(o.kov, "STARMIG_KOV"))
	if err != nil {
		return err
	}
	start := time.Now()
	var ac *archive.Config
	if to := orEnv(o.archive, "STARMIG_ARCHIVE"); to != "" {
		cfg, err := o.writer.config(to, in.batch, "", start)
		if err != nil {
			return err
		}
		if err := archive.CheckPlace(cmd.Context(), cfg.Store); err != nil {
			return err
		}
		ac = &cfg
	}
	prog := g.phaseProgress()
	sum, err := batch.Migrate(cmd.Context(), batch.Options{
		Source: in.source, Target: in.target, Mappings: in.mappings, Batch: in.batch, AsOf: asOf, LiveYears: years,
		KOV: kovs, AllowUnmapped: o.allowUnmapped, Now: time.Now, Log: g.log, Progress: prog.hook(), Archive: ac, Writers: writers,
		Wait: o.wait,
	})
	prog.finish()
	var pre *batch.PreflightError
	var findings *batch.FindingsError
	var scope *load.ErrBatchScope
	var unknown *batch.UnknownKOVError
	switch {
	case errors.As(err, &scope), errors.As(err, &unknown), errors.As(err, new(*archive.SkipTableError)):
		return &codedError{code: exitUsage, err: err}
	case errors.As(err, &pre):
		if g.json {
			_ = g.result(withWarnings(sum, start), func(io.Writer) {})
		}
		return &codedError{code: exitFindings, err: err}
	case errors.As(err, &findings):
		// The run has written what it wrote: say so before the findings.
		if werr := writeReport(o.report, findings.Report); werr != nil {
			return werr
		}
		_ = g.result(withWarnings(sum, start), func(w io.Writer) { printRun(w, sum, start, o.report, false) })
		return &codedError{code: exitFindings, err: err}
	case err != nil && sum != nil && sum.RunID > 0:
		// The run had started: what it wrote stays, and the engineer needs
		// to know that nothing is to be undone first.
		again := ""
		if ac != nil {
			// An archive run is one state of STAR1: it is not continued.
			again = "; an archive run it started is left unfinished, and the next run writes its archive run anew"
		}
		return fmt.Errorf("%w\nRun %d stopped; anything it wrote is kept. Once the cause is put right, running batch %s again continues from it%s: starmig status shows where it stopped", err, sum.RunID, in.batch, again)
	case err != nil:
		return err
	}
	if err := writeReport(o.report, sum.Report); err != nil {
		return err
	}
	return g.result(withWarnings(sum, start), func(w io.Writer) { printRun(w, sum, start, o.report, true) })
}

// runResult is a run's summary as --json gives it: the summary, and the
// warnings the text prints under it, for monitoring to raise.
type runResult struct {
	*batch.Summary
	Warnings []runWarning `json:"warnings,omitempty"`
}

// runWarning is one warning of a run: Kind names it for a machine,
// Text says it as the summary does, on one line.
type runWarning struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// withWarnings gives the run's summary with its warnings, start being
// when the run began.
func withWarnings(sum *batch.Summary, start time.Time) runResult {
	r := runResult{Summary: sum}
	if sum != nil {
		r.Warnings = runWarnings(sum.AsOf, sum.Tables, start)
	}
	return r
}

// runWarnings are the warnings of a run of the reference date asOf that
// began at start, whose STAR1 rows by table are tables: what the summary
// says under its table, each on one line. status gives them again from
// the bookkeeping.
func runWarnings(asOf string, tables map[string]*load.Stats, start time.Time) []runWarning {
	var ws []runWarning
	add := func(kind, text string) {
		if text != "" {
			text = strings.TrimPrefix(strings.TrimSpace(text), "Warning: ")
			ws = append(ws, runWarning{Kind: kind, Text: strings.Join(strings.Fields(text), " ")})
		}
	}
	add("many_future_dates", laterThanAsOf(asOf, tables, extract.InTableOrder(tables)))
	add("many_rejected", manyRejected(tables, extract.InTableOrder(tables)))
	add("as_of_after_today", asOfToCome(asOf, start))
	return ws
}

// printRun tells what a run did: its rows by table, the reconciliation's
// verdict (its findings, when there are any, follow as the error), the
// archive run it wrote and the report file.
func printRun(w io.Writer, sum *batch.Summary, start time.Time, report string, reconciled bool) {
	fmt.Fprintf(w, "Batch %s (run %d, as of %s) done in %.1fs.\n", sum.Batch, sum.RunID, sum.AsOf, time.Since(start).Seconds())
	printRunSummary(w, sum)
	fmt.Fprint(w, asOfToCome(sum.AsOf, start))
	if reconciled {
		fmt.Fprintln(w, "Reconciliation: every STAR1 row is accounted for; STAR2 holds what the rules say.")
	} else {
		fmt.Fprintln(w, "Reconciliation: findings, listed below.")
	}
	if a := sum.Archive; a != nil {
		fmt.Fprintf(w, "Archive: run %s, %s in %s, %s.\n", a.Run, words.Count(a.Rows, "row"), words.Count(a.Bundles, "bundle"), humanBytes(a.Bytes))
		printLeftOut(w, a.LeftOut)
	}
	if report != "" {
		fmt.Fprintf(w, "Report: %s\n", report)
	}
}

func printRunSummary(w io.Writer, sum *batch.Summary) {
	names := extract.InTableOrder(sum.Tables)
	if len(names) == 0 {
		// An empty STAR1, or municipalities without rows: a table of
		// headers alone would look like output cut short.
		fmt.Fprintln(w, "  No STAR1 row belongs to this batch.")
	} else {
		fmt.Fprintf(w, "  %-13s %9s %9s %9s %9s %9s | %9s %9s %9s %9s %9s\n", "table", "inserted", "updated", "unchanged", "conflicts", "rejected",
			load.Loaded, load.Merged, "archived", "excluded", "quarant.")
	}
	for _, n := range names {
		s := sum.Tables[n]
		fmt.Fprintf(w, "  %-13s %9d %9d %9d %9d %9d | %9d %9d %9d %9d %9d\n", n, s.Inserted, s.Updated, s.Unchanged, s.Conflicts, s.Rejected,
			s.Outcomes[load.Loaded], s.Outcomes[load.Merged], s.Outcomes[load.ArchivedOnly], s.Outcomes[load.ExcludedDeleted], s.Outcomes[load.Quarantined])
	}
	// Rows left in STAR2 as they are, because STAR2 changed them since
	// (conflicts) or because they would now be excluded or quarantined
	// (reported), are in no other column: say where they are.
	perTable := func(count func(*load.Stats) int64) (list []string, total int64) {
		for _, n := range names {
			if k := count(sum.Tables[n]); k > 0 {
				list = append(list, fmt.Sprintf("%d in %s", k, n))
				total += k
			}
		}
		return list, total
	}
	left, nLeft := perTable(func(s *load.Stats) int64 { return s.Conflicts + s.Reported })
	if nLeft > 0 {
		as := "they are"
		if nLeft == 1 {
			as = "it is"
		}
		fmt.Fprintf(w, "  %s left in STAR2 as %s (%s): changed in STAR2 since they were migrated, or now excluded or\n"+
			"  quarantined by the rules. Each is in migration.conflict with its reason (run_id %d);\n"+
			"  starmig resolve --batch %s --list shows those still open, and records a decision on them.\n",
			words.Count(nLeft, "row"), as, strings.Join(left, ", "), sum.RunID, sum.Batch)
	}
	if gone, nGone := perTable(func(s *load.Stats) int64 { return s.Gone }); nGone > 0 {
		fmt.Fprintf(w, "  %s migrated before and deleted outright from STAR1 since (%s): STAR2 keeps what was loaded,\n"+
			"  as a re-run never deletes; migration.row_map marks each with gone_run_id %d.\n",
			words.Count(nGone, "row"), strings.Join(gone, ", "), sum.RunID)
	}
	// Rows quarantined because the mapping folder lacks a code are loaded
	// by a run after the analysts map it: name the codes.
	if unmapped, n := perTable(func(s *load.Stats) int64 { return s.Quarantine[mapping.RuleUnmappedCode] }); n > 0 {
		codes := make([]string, len(sum.Unmapped))
		for i, c := range sum.Unmapped {
			codes[i] = c.Class + "/" + c.Code
		}
		fmt.Fprintf(w, "  %s quarantined (%s) for classifier codes classifiers.csv does not map (--allow-unmapped):\n"+
			"    %s. Map them and run the batch again to load these rows.\n",
			words.Count(n, "row"), strings.Join(unmapped, ", "), firstOf(codes, 20))
	}
	if unknown, n := perTable(func(s *load.Stats) int64 { return s.Quarantine[mapping.RuleUnknownMunicipality] }); n > 0 {
		codes := make([]string, 0, len(sum.Unknown))
		for c := range sum.Unknown {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for i, c := range codes {
			codes[i] = fmt.Sprintf("%s (%d)", c, sum.Unknown[c])
		}
		fmt.Fprintf(w, "  %s quarantined (%s) for municipality codes municipalities.csv does not map:\n"+
			"    %s. Map them and run the batch again to load these rows.\n",
			words.Count(n, "row"), strings.Join(unknown, ", "), firstOf(codes, 20))
	}
	fmt.Fprint(w, laterThanAsOf(sum.AsOf, sum.Tables, names))
	fmt.Fprint(w, manyRejected(sum.Tables, names))
	if len(sum.NamesKept) > 0 {
		fmt.Fprintf(w, "  %s named otherwise in the mapping folder than in STAR2, which keeps its own names:\n",
			words.Count(len(sum.NamesKept), "code"))
		for _, n := range sum.NamesKept {
			fmt.Fprintf(w, "    %s %s: %q in the mapping folder, %q in STAR2\n", n.Table, n.Code, n.Mapping, n.STAR2)
		}
	}
	// A batch of some municipalities also writes the persons and
	// applications of others that its rows refer to; its reconciliation
	// counts its own municipalities' rows only, so the two tables differ.
	if sum.Report == nil || len(sum.Report.KOV) == 0 {
		return
	}
	var others []string
	for _, tr := range sum.Report.Tables {
		s := sum.Tables[tr.Table]
		if s == nil {
			continue
		}
		if n := rowsOf(s); n > tr.Total.Source {
			others = append(others, fmt.Sprintf("%s %d", tr.Table, n-tr.Total.Source))
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "  Of these, rows of other municipalities that rows of this batch refer to (%s) are counted in the\n  reconciliation of their own municipality, not of this batch; reconcile --deep compares them in both.\n", strings.Join(others, ", "))
	}
}

// laterThanAsOf warns when a tenth or more of some table's rows were
// quarantined as dated after the reference date (rule 10, future_date). A
// register holds a few such dates, mistyped years; that many points at a
// mistyped --as-of instead, and the run, whose every row is accounted
// for, would otherwise end as if nothing were wrong.
func laterThanAsOf(asOf string, stats map[string]*load.Stats, names []string) string {
	tables, total := manyIn(stats, names, "in", func(s *load.Stats) (int64, int64, bool) {
		k, rows := s.Quarantine[mapping.RuleFutureDate], rowsOf(s)
		return k, rows, k*10 >= rows
	})
	if len(tables) == 0 {
		return ""
	}
	return fmt.Sprintf("  Warning: %s quarantined as dated after the reference date %s (future_date): %s.\n"+
		"    So many later dates suggest that --as-of is wrong. If it is, run the batch again with the right date:\n"+
		"    these rows, and the rows under them, are then migrated by the rules.\n",
		words.Count(total, "row"), asOf, strings.Join(tables, ", "))
}

// manyIn lists the tables, of names, where count finds enough of its
// rows: "K of N in TABLE", with where in place of "in", and their K in
// total. count gives K, N and whether they are enough; a table without
// counts (a summary of the bookkeeping edited by hand) is none.
func manyIn(stats map[string]*load.Stats, names []string, where string, count func(*load.Stats) (k, of int64, enough bool)) (tables []string, total int64) {
	for _, n := range names {
		s := stats[n]
		if s == nil {
			continue
		}
		if k, of, enough := count(s); k > 0 && enough {
			tables = append(tables, fmt.Sprintf("%d of %d %s %s", k, of, where, n))
			total += k
		}
	}
	return tables, total
}

// manyRejected warns when STAR2 refused a tenth or more of the rows a run
// wrote to some table (ten rows at least, or all of them): more than rows
// at fault, that is a rule of STAR2's own (a CHECK constraint, a trigger,
// a column the owners added) that the rules do not meet. Each row is
// accounted for, quarantined with the database's reason, and the run ends
// with exit 0; without the warning a whole table could stay out of STAR2
// unseen.
func manyRejected(stats map[string]*load.Stats, names []string) string {
	tables, total := manyIn(stats, names, "written to", func(s *load.Stats) (int64, int64, bool) {
		k, written := s.Rejected, s.Inserted+s.Updated+s.Rejected
		return k, written, k*10 >= written && (k >= 10 || k == written)
	})
	if len(tables) == 0 {
		return ""
	}
	return fmt.Sprintf("  Warning: %s refused by STAR2 (%s): %s.\n"+
		"    So many refusals suggest a rule of STAR2 itself (a CHECK constraint, a trigger) that the rows do not meet.\n"+
		"    The database's reason for each row is in migration.quarantine; once STAR2 is put right, run the batch\n"+
		"    again: these rows are then loaded.\n",
		words.Count(total, "row"), mapping.RuleRejected, strings.Join(tables, ", "))
}

// asOfToCome warns when the reference date lies after today in Estonia:
// the live window, and rule 10's future dates, are then those of a day to
// come, and a mistyped year (2062 for 2026) archives what should be live
// and lets mistyped dates through, with every row accounted for. It is not
// refused: a generated STAR1 may be dated ahead on purpose.
func asOfToCome(asOf string, now time.Time) string {
	today := now.In(mapping.Tallinn).Format(time.DateOnly)
	if asOf <= today {
		return ""
	}
	return fmt.Sprintf("  Warning: the reference date %s lies after today (%s in Estonia): rows were taken as live, archived\n"+
		"    or dated in the future as of that day. If --as-of is wrong, run the batch again with the right date.\n", asOf, today)
}

// rowsOf counts a table's rows in a run, over every outcome.
func rowsOf(s *load.Stats) int64 {
	var n int64
	for _, c := range s.Outcomes {
		n += c
	}
	return n
}

// firstOf joins the first n items, and says how many more there are.
func firstOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// phaseProgress shows a bar per phase and table on a terminal (rows,
// rows/s, time left), log lines otherwise, nothing with --quiet or --json.
type phaseProgress struct {
	g   *globalOptions
	mu  sync.Mutex
	key string
	bar *progress
}

func (g *globalOptions) phaseProgress() *phaseProgress { return &phaseProgress{g: g} }

// report hears that rows of total (-1: unknown) are done in phase and
// table.
func (p *phaseProgress) report(phase, table string, rows, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := phase + " " + table
	if key != p.key {
		if p.bar != nil {
			p.bar.finish()
		}
		p.key = key
		p.bar = p.g.progress(key, total)
	}
	p.bar.learnTotal(total)
	p.bar.set(rows)
}

// hook is what a batch reports to: nil when nothing is shown, so that the
// batch does not count STAR1's tables for nobody.
func (p *phaseProgress) hook() func(phase, table string, rows, total int64) {
	if p.g.quiet || p.g.json {
		return nil
	}
	return p.report
}

func (p *phaseProgress) finish() {
	if p.bar != nil {
		p.bar.finish()
	}
}

// checkReport refuses, before any work, a --report file that could not
// be written at the end of it.
func checkReport(path string) error {
	if path == "" {
		return nil
	}
	if err := reportfile.Check(path); err != nil {
		return usageError("--report %s: %v", path, err)
	}
	return nil
}

func writeReport(path string, rep *batch.Report) error {
	if path == "" || rep == nil {
		return nil
	}
	return reportfile.Write(path, "Reconciliation of batch "+rep.Batch, func(w io.Writer) error {
		batch.WriteMarkdown(w, rep)
		return nil
	})
}
