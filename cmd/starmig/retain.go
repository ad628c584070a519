package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/words"
)

type retainOptions struct {
	archive, retainUntil, retention string
}

func newRetainCommand(g *globalOptions) *cobra.Command {
	o := &retainOptions{}
	cmd := &cobra.Command{
		Use:   "retain",
		Short: "Lengthen the locks of every archive object, for an archive that must be kept longer",
		Long: `retain locks every object of the archive in COMPLIANCE mode until a later
date: the runs' catalogs and bundles, the objects of interrupted runs and
the audit log (every object under batches/ and audit/, and nothing else a
bucket holds beside them). Each object is locked for the retention it was written with
(archive --retention, 10 years by default); once that ends, the storage
lets anyone with the right delete it. An archive that must be kept longer
(STAR1 switched off, and its last run's locks ending some years later; a
law that changed) has its locks lengthened with this command before they
end. verify notes each run whose locks end within --locks-ending (six
months by default).

Objects locked until the date or later stay as they are: a COMPLIANCE lock
can be lengthened, never shortened, by anyone. An object in GOVERNANCE
mode, which no archive writer makes, is left as it is and named, with
exit 4. The command needs the
writer's storage credentials (s3:PutObjectRetention), not the operators'
read-only ones, and no key. A folder store cannot lock: it is refused.
Running it again after a stop does the rest.`,
		Example: `  starmig retain --archive s3://star1-archive/prod --retain-until 2060-01-01
  starmig retain --archive s3://star1-archive/prod --retention 30y --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRetain(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.archive, "archive", "", "archive: s3://bucket/prefix (default: $STARMIG_ARCHIVE)")
	f.StringVar(&o.retainUntil, "retain-until", "", "lock every object until at least this date YYYY-MM-DD (default: $STARMIG_RETAIN_UNTIL)")
	f.StringVar(&o.retention, "retention", "", "lock every object for at least this long from today: 30y, 18m, 90d (to the day, UTC; default: $STARMIG_RETENTION)")
	return cmd
}

func runRetain(cmd *cobra.Command, g *globalOptions, o *retainOptions) error {
	from := orEnv(o.archive, "STARMIG_ARCHIVE")
	until, retention := orEnv(o.retainUntil, "STARMIG_RETAIN_UNTIL"), orEnv(o.retention, "STARMIG_RETENTION")
	if err := requireFlags([3]string{"archive", from, "STARMIG_ARCHIVE"}); err != nil {
		return err
	}
	if until == "" && retention == "" {
		// No default: lengthening locks for years is not done by accident.
		return usageError("--retain-until or --retention is required (or set STARMIG_RETAIN_UNTIL or STARMIG_RETENTION)")
	}
	date, err := retainUntil(until, retention, time.Now())
	if err != nil {
		return err
	}
	// To the day, as --retain-until gives it: run again the same day
	// (after a stop, say), --retention 30y asks for the date it asked
	// for before, not one a few seconds later that every lock must take.
	day := date.UTC()
	date = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	st, err := archive.OpenStore(from, os.Getenv)
	if err != nil {
		return usageError("%v", err)
	}
	if !st.Locks() {
		return usageError("--archive %s: a folder store cannot lock its objects, so there is no lock to lengthen", from)
	}
	if err := st.CheckWritable(cmd.Context()); err != nil {
		return err
	}
	if err := holdsAnArchive(cmd.Context(), st, "and so nothing to lock"); err != nil {
		return err
	}
	var bar *progress
	res, err := archive.Lengthen(cmd.Context(), st, archive.ArchivePrefixes, date, func(done, total int) {
		if bar == nil {
			bar = g.newProgress("lengthening locks", int64(total), "objects")
		}
		bar.set(int64(done))
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return fmt.Errorf("%w (%s of %d lengthened before it stopped; run the same command again for the rest)", err, words.Count(res.Lengthened, "lock"), res.Objects-res.Later)
	}
	if err := g.result(res, func(w io.Writer) {
		fmt.Fprintf(w, "%s of %s locked in COMPLIANCE mode until %s", words.Count(res.Lengthened, "object"), st, res.Until.Format(time.DateOnly))
		if res.Later > 0 {
			fmt.Fprintf(w, "; %d already locked until then or later, as they stay", res.Later)
		}
		fmt.Fprintln(w, ".")
	}); err != nil {
		return err
	}
	if n := len(res.Governance); n > 0 {
		shown := res.Governance[:min(n, 10)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		as, them := "they are", "them"
		if n == 1 {
			as, them = "it is", "it"
		}
		return &codedError{code: exitVerification, err: fmt.Errorf("%s in GOVERNANCE mode left as %s: no archive writer locks so, and such a lock is changed only with the right to bypass it, which no role has; "+
			"verify reports %s, and the storage team looks into who wrote %s: %s%s", words.Count(n, "object"), as, them, them, strings.Join(shown, ", "), more)}
	}
	return nil
}
