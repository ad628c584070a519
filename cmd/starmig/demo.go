package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/fileurl"
	"github.com/starmig/starmig/internal/pgserver"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/synth"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/load"
)

type demoOptions struct {
	dir     string
	persons int
	seed    uint64
	asOf    string
}

func newDemoCommand(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job end to end on embedded defaults",
		Long: `demo runs the main job on a machine with nothing set up: it generates a
small synthetic STAR1 with every data-quality problem, starts a private
PostgreSQL of its own (stopped and removed at the end), applies the STAR2
schema and the migration bookkeeping, migrates STAR1 in one batch while
archiving all of it from the same read into a local archive folder (with a
key set of its own), runs the deep reconciliation, and retrieves one
person's records from the archive. It leaves the STAR1 file, the mappings,
the keys, the archive, the retrieval and the reconciliation report in --dir.`,
		Example: "  go run ./cmd/starmig demo\n  starmig demo --dir /tmp/starmig-demo --persons 5000",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, g, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "starmig-demo", "folder for the synthetic STAR1, mappings and reports")
	cmd.Flags().IntVar(&o.persons, "persons", 2000, "persons in the synthetic STAR1")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "seed of the synthetic STAR1")
	cmd.Flags().StringVar(&o.asOf, "as-of", "", "reference date YYYY-MM-DD (default today in Estonia)")
	return cmd
}

type demoResult struct {
	STAR1     string                   `json:"star1"`
	Keys      string                   `json:"keys"`
	Archive   string                   `json:"archive"`
	Retrieval *archive.RetrievalResult `json:"retrieval"`
	Mappings  string                   `json:"mappings"`
	STAR1Rows map[string]int64         `json:"star1_rows"`
	Migration *batch.Summary           `json:"migration"`
	Report    string                   `json:"reconciliation_report"`
}

func runDemo(cmd *cobra.Command, g *globalOptions, o *demoOptions) error {
	ctx := cmd.Context()
	asOf, err := parseAsOf(o.asOf, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res := demoResult{STAR1: filepath.Join(o.dir, "star1.db"), Mappings: filepath.Join(o.dir, "mappings")}

	g.log.Info("demo: generating synthetic STAR1", "persons", o.persons, "file", res.STAR1)
	bar := g.progress("gen persons", int64(o.persons))
	stats, err := synth.Generate(ctx, res.STAR1, synth.Options{
		Persons: o.persons, Seed: o.seed, AsOf: asOf, Rates: synth.DefaultRates(),
		Progress: func(n int) { bar.set(int64(n)) },
	})
	bar.finish()
	if err != nil {
		return err
	}
	res.STAR1Rows = stats.Rows
	if err := synth.WriteMappings(res.Mappings); err != nil {
		return err
	}

	g.log.Info("demo: starting a private PostgreSQL")
	pg, err := pgserver.Start(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := pg.Stop(); stopErr != nil {
			g.log.Error("demo: stop PostgreSQL", "err", stopErr)
		}
	}()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		return fmt.Errorf("demo: connect: %w", err)
	}
	defer conn.Close(ctx)
	g.log.Info("demo: applying the STAR2 schema and the migration bookkeeping", "port", pg.Port)
	if err := load.ApplySchema(ctx, conn); err != nil {
		return err
	}
	res.Report = filepath.Join(o.dir, "reconciliation.md")
	res.Keys = filepath.Join(o.dir, "keys")
	if _, err := os.Stat(filepath.Join(res.Keys, archive.RecipientFile)); err != nil {
		if err := archive.GenerateKeys(res.Keys); err != nil {
			return err
		}
	}
	folder, err := fileurl.FromPath(filepath.Join(o.dir, "archive"))
	if err != nil {
		return err
	}
	res.Archive = folder.String()
	wf := writerFlags{keys: keyFlags{dir: res.Keys}}
	ac, err := wf.config(res.Archive, "demo", "", time.Now())
	if err != nil {
		return err
	}
	g.log.Info("demo: migrating STAR1 in one batch, archiving it from the same read", "batch", "demo", "archive", res.Archive)
	prog := g.phaseProgress()
	dsn := secret.DSN(pg.DSN)
	res.Migration, err = batch.Migrate(ctx, batch.Options{
		Source: "sqlite:" + res.STAR1, Target: dsn, Mappings: res.Mappings, Batch: "demo", AsOf: asOf, LiveYears: 5,
		Now: time.Now, Log: g.log, Progress: prog.hook(), Archive: &ac,
	})
	prog.finish()
	if err != nil {
		return err
	}
	g.log.Info("demo: deep reconciliation")
	rep, err := batch.Reconcile(ctx, batch.ReconcileOptions{Source: "sqlite:" + res.STAR1, Target: dsn, Mappings: res.Mappings, Batch: "demo", Deep: true})
	if werr := writeReport(res.Report, rep); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return &codedError{code: exitFindings, err: err}
	}
	code, err := demoPerson(ctx, res.STAR1)
	if err != nil {
		return err
	}
	g.log.Info("demo: retrieving one person's records from the archive")
	keys := keyFlags{dir: res.Keys}
	pub, err := keys.readSigningPub()
	if err != nil {
		return err
	}
	ids, err := keys.readIdentities()
	if err != nil {
		return err
	}
	ik, err := keys.readIndexKey()
	if err != nil {
		return err
	}
	now := time.Now()
	// The demo's own folder: a rerun of the demo replaces its retrieval.
	if err := os.RemoveAll(filepath.Join(o.dir, "retrieval")); err != nil {
		return err
	}
	res.Retrieval, _, err = retrieveTo(ctx, ac.Store, pub, ids, [][]byte{ik}, archive.PersonByCode(code),
		retrieval{batch: "demo", reason: "demo of the archive", out: filepath.Join(o.dir, "retrieval")}, now)
	if err != nil {
		return err
	}
	return g.result(res, func(w io.Writer) {
		fmt.Fprintf(w, "Synthetic STAR1: %s (%d rows), mappings in %s\n", res.STAR1, stats.Total(), res.Mappings)
		fmt.Fprintf(w, "Migrated into a private PostgreSQL (batch %s, as of %s):\n", res.Migration.Batch, res.Migration.AsOf)
		printRunSummary(w, res.Migration)
		fmt.Fprintln(w, "Deep reconciliation: every STAR1 row is accounted for, and every loaded row in STAR2 is what the rules give.")
		batch.WriteText(w, rep)
		fmt.Fprintf(w, "Report: %s\n", res.Report)
		a := res.Migration.Archive
		fmt.Fprintf(w, "Archive: %s, run %s: %s in %s (%s); keys in %s\n",
			res.Archive, a.Run, words.Count(a.Rows, "STAR1 row"), words.Count(a.Bundles, "signed, encrypted BagIt bundle"), humanBytes(a.Bytes), res.Keys)
		fmt.Fprintf(w, "Retrieved %s: %s, %s in %s (retrieval.html, retrieval.md); on record in the audit log.\n",
			res.Retrieval.Query, words.Count(res.Retrieval.Rows(), "row"), words.Count(res.Retrieval.Files(), "document file"), res.Retrieval.Out)
	})
}

// demoPerson picks a person with proceedings, decisions, payments and, if
// any has them, documents, to retrieve from the archive.
func demoPerson(ctx context.Context, path string) (string, error) {
	src, err := extract.Open(ctx, "sqlite:"+path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer snap.Close()
	var code string
	err = snap.Query(ctx, `SELECT i.ISIKUKOOD FROM ISIK i JOIN MENETLUS m ON m.ISIK_ID = i.ISIK_ID
	  JOIN OTSUS o ON o.MENETLUS_ID = m.MENETLUS_ID JOIN MAKSE p ON p.OTSUS_ID = o.OTSUS_ID
	 WHERE length(i.ISIKUKOOD) = 11
	 ORDER BY m.MENETLUS_ID IN (SELECT MENETLUS_ID FROM DOKUMENT WHERE length(SISU) > 0) DESC, i.ISIK_ID LIMIT 1`, func(v []any) error {
		code, _ = v[0].(string)
		return nil
	})
	if err == nil && code == "" {
		err = errors.New("demo: the synthetic STAR1 has no person with payments")
	}
	return code, err
}
