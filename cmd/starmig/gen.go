package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/synth"
	"github.com/starmig/starmig/mapping"
)

type genOptions struct {
	out         string
	mappingsOut string
	persons     int
	seed        uint64
	asOf        string
	docSize     int
	force       bool
	rates       synth.Rates
}

func newGenCommand(g *globalOptions) *cobra.Command {
	o := &genOptions{rates: synth.DefaultRates()}
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a synthetic STAR1 (SQLite stand-in) with every known data-quality problem",
		Long: `gen writes a synthetic STAR1 into a SQLite file with exactly the tables and
columns of STAR1, filled deterministically from the seed: the same seed and
flags give the same rows. Every data-quality problem of STAR1.md is present
at a rate that each --rate-* flag sets (0 turns it off). The matching mapping
folder (municipalities.csv, classifiers.csv) is written beside the file;
mapping files there that were edited are not replaced without --force, and
neither is a file at --out that gen did not write (it may be an export of
the real STAR1).`,
		Example: `  starmig gen --out star1.db --persons 100000 --seed 42 --as-of 2026-11-01
  starmig gen --out star1.db --persons 2000 --rate-unmapped 0.01 --mappings-out maps/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGen(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "SQLite file to write (replaced if it exists)")
	f.BoolVar(&o.force, "force", false, "replace a file at --out that gen did not write, and mapping files that hold other mappings than gen writes (edited ones)")
	f.StringVar(&o.mappingsOut, "mappings-out", "", "folder for the mapping CSV files (default: mappings/ beside --out)")
	f.IntVar(&o.persons, "persons", 1000, "number of ISIK rows; about 25 rows across the tables per person")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the generator")
	f.StringVar(&o.asOf, "as-of", "", "reference date YYYY-MM-DD: nothing is dated after it but the future-date problem (default today in Estonia)")
	f.IntVar(&o.docSize, "doc-size", 2048, "average document size in bytes")
	for _, q := range synth.Quirks {
		f.Float64Var(q.Rate(&o.rates), "rate-"+q.Flag, *q.Rate(&o.rates), fmt.Sprintf("problem %d: share of %s", q.Problem, q.Usage))
	}
	return cmd
}

// parseAsOf reads an --as-of date; empty means today, read from the clock
// here at the edge and passed down. Today is the day in Estonia, whatever
// the machine's zone: STAR1's dates are Tallinn wall-clock times (rule 13),
// and rule 10 compares them with this day. On a machine kept in UTC, a
// batch run at half past midnight in Tallinn would otherwise take
// yesterday, and quarantine what was entered since midnight as future_date.
func parseAsOf(s string, now time.Time) (time.Time, error) {
	if s == "" {
		y, m, d := now.In(mapping.Tallinn).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	return parseDay("as-of", s)
}

type genResult struct {
	Out      string           `json:"out"`
	Mappings string           `json:"mappings"`
	Persons  int              `json:"persons"`
	Seed     uint64           `json:"seed"`
	AsOf     string           `json:"as_of"`
	Rows     map[string]int64 `json:"rows"`
	Total    int64            `json:"total_rows"`
	Seconds  float64          `json:"seconds"`
}

func runGen(cmd *cobra.Command, g *globalOptions, o *genOptions) error {
	if err := requireFlag("out", o.out, ""); err != nil {
		return err
	}
	if o.persons < 0 {
		return usageError("--persons %d: must not be negative", o.persons)
	}
	if o.docSize <= 0 {
		return usageError("--doc-size %d: want a number of bytes above 0", o.docSize)
	}
	for _, q := range synth.Quirks {
		if r := *q.Rate(&o.rates); r < 0 || r > 1 {
			return usageError("--rate-%s %v: must be between 0 and 1", q.Flag, r)
		}
	}
	asOf, err := parseAsOf(o.asOf, time.Now())
	if err != nil {
		return err
	}
	if asOf.Before(synth.EarliestAsOf) {
		return usageError("--as-of %s: %s", asOf.Format(time.DateOnly), synth.AsOfRule)
	}
	maps := o.mappingsOut
	if maps == "" {
		maps = filepath.Join(filepath.Dir(o.out), "mappings")
	}
	// A STAR1 file gen wrote is replaced; any other file only with --force:
	// it may be an export of the real STAR1.
	var notOurs *synth.NotSyntheticError
	switch err := synth.CheckOut(o.out); {
	case errors.As(err, &notOurs) && o.force:
	case err != nil && notOurs != nil:
		return usageError("%v: give --out another name, or --force to replace it", err)
	case err != nil:
		return err
	}
	// Mapping files as gen wrote them are replaced; edited ones, an
	// analyst's work, only with --force.
	var edited *synth.EditedMappingsError
	switch err := synth.CheckMappings(maps); {
	case errors.As(err, &edited) && o.force:
	case err != nil && edited != nil:
		return usageError("%v: give --mappings-out another folder, or --force to replace them", err)
	case err != nil:
		return err
	}
	bar := g.progress("gen persons", int64(o.persons))
	start := time.Now()
	stats, err := synth.Generate(cmd.Context(), o.out, synth.Options{
		Persons: o.persons, Seed: o.seed, AsOf: asOf, DocSize: o.docSize, Rates: o.rates,
		Progress: func(n int) { bar.set(int64(n)) },
	})
	bar.finish()
	if err != nil {
		return err
	}
	if err := synth.WriteMappings(maps); err != nil {
		return err
	}
	res := genResult{Out: o.out, Mappings: maps, Persons: o.persons, Seed: o.seed, AsOf: asOf.Format(time.DateOnly),
		Rows: stats.Rows, Total: stats.Total(), Seconds: time.Since(start).Seconds()}
	return g.result(res, func(w io.Writer) {
		fmt.Fprintf(w, "STAR1 written to %s (%d rows, %.1fs); mappings in %s\n", res.Out, res.Total, res.Seconds, res.Mappings)
		printCounts(w, res.Rows)
	})
}

func printCounts(w io.Writer, rows map[string]int64) {
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %10d\n", n, rows[n])
	}
}
