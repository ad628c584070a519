package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
)

type archiveOptions struct {
	source, to, batch string
	writer            writerFlags
}

func newArchiveCommand(g *globalOptions) *cobra.Command {
	o := &archiveOptions{}
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Write all of STAR1 into signed, encrypted, locked BagIt bundles",
		Long: `archive reads one consistent snapshot of STAR1 once and writes every row of
every table, whatever its migration outcome, and every document, into BagIt
bundles: payload compressed and encrypted with age, manifests over the
ciphertext, tag manifest signed with Ed25519, and a signed catalog of the
run. On S3 the bucket must have Object Lock; every object is written in
COMPLIANCE mode, never over an existing key. A run that stops is completed
by running it again: the new run accounts for what the old one left.

migrate --archive URL does the same from the load's own read of STAR1.

S3: --to s3://bucket/prefix, with STARMIG_S3_ENDPOINT (or AWS_ENDPOINT_URL),
STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY), STARMIG_S3_SESSION_TOKEN (or AWS_SESSION_TOKEN) with
temporary credentials, STARMIG_S3_REGION, STARMIG_S3_CA_FILE, and
STARMIG_S3_INSECURE=1 for plain http. Without keys in the environment they
come from a profile of ~/.aws/credentials or ~/.aws/config (AWS_PROFILE,
else default; AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), its keys or its
credential_process, else from AWS_WEB_IDENTITY_TOKEN_FILE or a container's
credentials endpoint, as for the AWS SDKs. The writer needs
no delete permission:
docs/archive.md lists the rights it does need.`,
		Example: `  starmig archive --source sqlite:star1.db --to file:///srv/archive --batch all --keys keys/
  starmig archive --source oracle://reader:pw@star1:1521/STAR1 --to s3://star1-archive/prod --batch 2026-final \
    --recipient age1... --recipient age1... --sign-key signing.key --index-key index.key --retention 25y`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runArchive(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.source, "source", "", "STAR1: sqlite:PATH, oracle://user:password@host:port/service, or postgres://user:password@host:port/db?schema=star1_archive for STAR1 restored from the archive (default: $STARMIG_SOURCE)")
	f.StringVar(&o.to, "to", "", "archive: file:///path or s3://bucket/prefix (default: $STARMIG_ARCHIVE)")
	f.StringVar(&o.batch, "batch", "", "batch name (default: $STARMIG_BATCH)")
	o.writer.add(f)
	return cmd
}

func runArchive(cmd *cobra.Command, g *globalOptions, o *archiveOptions) error {
	source, to, batchName := orEnv(o.source, "STARMIG_SOURCE"), orEnv(o.to, "STARMIG_ARCHIVE"), orEnv(o.batch, "STARMIG_BATCH")
	if err := requireFlags([3]string{"source", source, "STARMIG_SOURCE"}, [3]string{"to", to, "STARMIG_ARCHIVE"}, [3]string{"batch", batchName, "STARMIG_BATCH"}); err != nil {
		return err
	}
	if err := checkSource(source); err != nil {
		return err
	}
	if err := checkBatchName(batchName); err != nil {
		return err
	}
	cfg, err := o.writer.config(to, batchName, secret.RedactURL(source), time.Now())
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := writeArchive(cmd.Context(), g, source, cfg)
	if err != nil {
		return err
	}
	return g.result(st, func(w io.Writer) {
		fmt.Fprintf(w, "Archive run %s of batch %s: %s in %s, %s stored in %s (%.1fs).\n",
			st.Run, batchName, words.Count(st.Rows, "row"), words.Count(st.Bundles, "bundle"), humanBytes(st.Bytes), cfg.Store, time.Since(start).Seconds())
		printLeftOut(w, st.LeftOut)
	})
}

// printLeftOut names the tables of STAR1 that an archive run left out
// because STAR1.md does not describe them, as its catalog records them.
func printLeftOut(w io.Writer, left []extract.TableRows) {
	if len(left) == 0 {
		return
	}
	fmt.Fprintf(w, "Left out of the archive, as STAR1.md does not describe them (recorded in the catalog): %s.\n", archive.TablesText(left, true))
}

func writeArchive(ctx context.Context, g *globalOptions, source string, cfg archive.Config) (archive.Stats, error) {
	src, err := extract.Open(ctx, source)
	if err != nil {
		return archive.Stats{}, err
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err != nil {
		return archive.Stats{}, err
	}
	defer snap.Close()
	if cfg.LeftOut, err = archive.LeftOut(ctx, snap, cfg.SkipTables); err != nil {
		if errors.As(err, new(*archive.SkipTableError)) {
			return archive.Stats{}, &codedError{code: exitUsage, err: err}
		}
		return archive.Stats{}, err
	}
	cfg.Source = src.String()
	w, err := archive.NewWriter(ctx, cfg)
	if err != nil {
		return archive.Stats{}, err
	}
	g.log.Info("archive run started", "store", cfg.Store.String(), "batch", cfg.Batch, "run", w.Run())
	prog := g.phaseProgress()
	var report func(table string, rows int64)
	if hook := prog.hook(); hook != nil {
		totals, err := extract.Counts(ctx, snap)
		if err != nil {
			w.Abort(err)
			return archive.Stats{}, err
		}
		report = func(table string, rows int64) { hook("archive", table, rows, totals[table]) }
	}
	err = archive.WriteAll(ctx, snap, w, report)
	prog.finish()
	if err != nil {
		w.Abort(err)
		if ctx.Err() != nil {
			return archive.Stats{}, errors.Join(ctx.Err(), err)
		}
		return archive.Stats{}, err
	}
	return w.Close()
}

func humanBytes(n int64) string { return archive.HumanBytes(n) }
