package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

type statusOptions struct {
	target, mappings string
}

// statusResult is what status prints with --json.
type statusResult struct {
	Batches []batchStatus `json:"batches"`
	// Uncovered are the STAR2 municipality codes of the mapping folder
	// that no batch covers (with --mappings).
	Uncovered []string `json:"municipalities_in_no_batch,omitempty"`
	// NoBookkeeping: the target has no migration schema, so no batch
	// was ever migrated into it (or it is not the STAR2 meant).
	NoBookkeeping bool `json:"no_bookkeeping,omitempty"`
}

type batchStatus struct {
	load.BatchState
	// Next says what the batch needs, "" when nothing.
	Next string `json:"next,omitempty"`
	// Warnings are those its newest run gave (migrate's --json has them
	// under the same name).
	Warnings []runWarning `json:"warnings,omitempty"`
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every batch of STAR2's bookkeeping: its newest run and what it still needs",
		Long: `status reads the migration bookkeeping of STAR2 and shows, for every batch,
its municipalities, reference date, runs, STAR1 rows by outcome, and how its
newest run ended: completed; failed with reconciliation findings or an error;
interrupted (killed, or its connection lost); or running now. It says what
each batch still needs: a run to complete an interrupted one, a look at the
findings, or decisions on open conflicts (starmig resolve).

With --mappings it also names the municipalities of the mapping folder that
no batch covers yet: STAR1 can be switched off only when every municipality
has been migrated.`,
		Example: `  starmig status --target postgres://migrator@db:5432/star2 --mappings mappings/`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runStatus(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "STAR2 PostgreSQL URL (default: $STARMIG_TARGET)")
	f.StringVar(&o.mappings, "mappings", "", "mapping folder, to name the municipalities in no batch (default: $STARMIG_MAPPINGS)")
	return cmd
}

func runStatus(cmd *cobra.Command, g *globalOptions, o *statusOptions) error {
	target, err := requiredDSN("target", o.target, "STARMIG_TARGET")
	if err != nil {
		return err
	}
	var maps *mapping.Mappings
	if dir := orEnv(o.mappings, "STARMIG_MAPPINGS"); dir != "" {
		var err error
		if maps, err = mapping.LoadFolder(dir); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	conn, err := batch.Connect(ctx, target)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	states, err := load.BatchStates(ctx, conn)
	noBookkeeping := load.NoBookkeeping(err)
	if err != nil && !noBookkeeping {
		return err
	}
	res := statusResult{Batches: make([]batchStatus, len(states)), NoBookkeeping: noBookkeeping}
	covered, all := map[string]bool{}, false
	for i, s := range states {
		res.Batches[i] = batchStatus{BatchState: s, Next: nextStep(s)}
		if s.Last.Tables != nil {
			res.Batches[i].Warnings = runWarnings(s.AsOf, s.Last.Tables, s.Last.Started)
		}
		all = all || len(s.KOV) == 0
		for _, k := range s.KOV {
			covered[k] = true
		}
	}
	if maps != nil && !all {
		seen := map[string]bool{}
		for _, m := range maps.Municipalities {
			if !covered[m.Code] && !seen[m.Code] {
				seen[m.Code] = true
				res.Uncovered = append(res.Uncovered, m.Code)
			}
		}
		sort.Strings(res.Uncovered)
	}
	return g.result(res, func(w io.Writer) { writeStatus(w, target.String(), res, maps) })
}

// nextStep says what a batch still needs, or "" when its newest run
// completed with nothing open.
func nextStep(s load.BatchState) string {
	r := s.Last
	switch {
	case r.State == "running" && r.Interrupted:
		return fmt.Sprintf("run %d was interrupted in phase %s: run the batch again to complete it", r.ID, r.Phase)
	case r.State == "running":
		return fmt.Sprintf("run %d is running, in phase %s", r.ID, r.Phase)
	case r.Interrupted:
		return fmt.Sprintf("run %d was interrupted: run the batch again to complete it", r.ID)
	case r.State == "failed" && r.Findings > 0:
		return fmt.Sprintf("run %d ended with %s: starmig reconcile --batch %s names them", r.ID, words.Count(r.Findings, "reconciliation finding"), s.Name)
	case r.State == "failed":
		return fmt.Sprintf("run %d failed in phase %s: %s; once that is put right, run the batch again to complete it", r.ID, r.Phase, firstLine(r.Error))
	case s.Conflicts > 0:
		return fmt.Sprintf("%s: starmig resolve --batch %s --list", words.Count(s.Conflicts, "open conflict"), s.Name)
	}
	return ""
}

func firstLine(s string) string {
	if s == "" {
		return "no reason recorded"
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func writeStatus(w io.Writer, where string, res statusResult, maps *mapping.Mappings) {
	if res.NoBookkeeping {
		fmt.Fprintf(w, "%s holds no migration bookkeeping: no batch was ever migrated into it.\n", where)
	} else {
		fmt.Fprintf(w, "Bookkeeping of %s: %s.\n", where, words.Count(len(res.Batches), "batch"))
	}
	for _, b := range res.Batches {
		kov := "every municipality"
		if len(b.KOV) > 0 {
			kov = "municipalities " + firstOf(b.KOV, 10)
		}
		var total int64
		for _, n := range b.Rows {
			total += n
		}
		r := b.Last
		when := r.Started
		if r.Finished != nil {
			when = *r.Finished
		}
		fmt.Fprintf(w, "  %s: %s, as of %s (%d live years); %s, %s (%s loaded)\n", b.Name, kov, b.AsOf, b.LiveYears,
			words.Count(b.Runs, "run"), words.Count(total, "STAR1 row"), fmt.Sprint(b.Rows[load.Loaded]))
		state := r.State
		if r.Interrupted {
			state = "interrupted"
		}
		fmt.Fprintf(w, "    newest run %d: %s, %s\n", r.ID, state, when.UTC().Format(time.RFC3339))
		for _, x := range b.Warnings {
			fmt.Fprintf(w, "    it warned: %s\n", x.Text)
		}
		if b.Next == "" {
			fmt.Fprintln(w, "    nothing open")
		} else {
			fmt.Fprintf(w, "    needs: %s\n", b.Next)
		}
	}
	if maps == nil {
		return
	}
	if len(res.Uncovered) == 0 {
		fmt.Fprintln(w, "Every municipality of the mapping folder is in a batch.")
		return
	}
	names := map[string]string{}
	for _, m := range maps.Municipalities {
		names[m.Code] = m.Name
	}
	named := make([]string, len(res.Uncovered))
	for i, c := range res.Uncovered {
		named[i] = c + " " + names[c]
	}
	fmt.Fprintf(w, "%s of the mapping folder in no batch yet: %s.\n", words.Count(len(res.Uncovered), "municipality"), firstOf(named, 20))
}
