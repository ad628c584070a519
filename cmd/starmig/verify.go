package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/batch"
	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/verify"
)

type verifyOptions struct {
	batch, level, report, drill string
	percent                     float64
	budget                      string
	seed                        int64
	parallel                    int
	grace                       time.Duration
	locksEnding                 string
	locksPeriod                 [3]int // --locks-ending as years, months, days
	operator, reason            string
	reader                      readerFlags
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove every archive bundle is there, whole, locked and signed, without keys",
		Long: `verify checks the archive with the signing key's public half and read-only
storage credentials only.

  list    every run's catalog verifies; every bundle it names is there and
          nothing else; every object is there with its size; each bundle's
          tag manifest is the one the catalog names and its signature
          verifies; on S3, one version per key, COMPLIANCE mode, retained at
          least until the catalog's date, and the bucket has Object Lock.
  sample  list, and a random sample of payload objects (--sample PERCENT or
          --budget BYTES) read and hashed against both manifests. The sample
          follows --seed (default: today's day number), so runs rotate
          through everything, daily or at any other regular step, and a
          finding can be reproduced. The objects read are listed in --json.
  full    list, every object read and hashed, and BagIt validity.

Each run whose locks end within --locks-ending (six months by default), or
have ended, is a note: the storage then lets its objects be deleted, and
starmig retain lengthens the locks of an archive that must be kept longer.

A run being written has no signed catalog until its end, and neither has
one that was interrupted (the next archive run of any batch accounts for
it). Objects of such a run that the store wrote within --grace (default
24h) are a note, not a finding, so that a check during an archive run does
not raise an alarm; older ones are findings.

With --identity (key holders only) it also decrypts each bundle's encrypted
contents and holds their row counts and money against the catalog, at every
level, and decrypts what it reads and checks plaintext digests and row
counts. With --restore-drill it restores the sampled bundles into a scratch
schema of that database, compares counts and money sums with the catalog,
and drops the schema. Such a check reads personal data, so it is put on
record in the audit log (--operator, --reason) before anything is
decrypted.

Exit 0 when clean, 4 with findings (each naming batch, run, bundle, object),
1 when verification could not run (for example storage unreachable).`,
		Example: `  starmig verify --archive s3://star1-archive/prod --sign-pub signing.pub --level list
  starmig verify --archive s3://star1-archive/prod --sign-pub signing.pub --level sample --sample 5 --report weekly.md
  starmig verify --archive s3://star1-archive/prod --keys keys/ --level full --identity identity.txt --restore-drill postgres://drill@db/scratch`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd, g, o) },
	}
	f := cmd.Flags()
	o.reader.add(f, "age identity, for the key holders' checks")
	f.StringVar(&o.batch, "batch", "", "only this batch (default: every batch)")
	f.StringVar(&o.level, "level", "list", "list, sample or full")
	f.Float64Var(&o.percent, "sample", 0, "percentage of payload objects to hash at level sample (default 5); implies --level sample")
	f.StringVar(&o.budget, "budget", "", "bytes to hash at level sample instead of a percentage, e.g. 10GiB; implies --level sample")
	f.Int64Var(&o.seed, "seed", -1, "seed of the sample (default: today's day number)")
	f.IntVar(&o.parallel, "parallel", 8, "objects read at once")
	f.StringVar(&o.operator, "operator", "", "who checks, for the audit log of a key holder's check (default: $STARMIG_OPERATOR, else the OS user)")
	f.StringVar(&o.reason, "reason", "key holder's verification", "why, for the audit log of a key holder's check")
	f.StringVar(&o.locksEnding, "locks-ending", "6m", "note each run whose locks end within this long, so that they can be lengthened in time (starmig retain): 6m, 1y, 90d; 0 notes only locks that have ended")
	f.DurationVar(&o.grace, "grace", 24*time.Hour, "a run without a signed catalog written to within this long is taken to be still being written: a note, not a finding (0: always a finding)")
	f.StringVar(&o.report, "report", "", "also write the report to this file: Markdown, or HTML if it ends in .html")
	f.StringVar(&o.drill, "restore-drill", "", "PostgreSQL URL of a scratch database for a restore drill (needs --identity)")
	return cmd
}

// checkFlags checks the flags before the store is opened. The level and
// the sample's flags go together: --sample and --budget choose the size of
// a sample, so either one without --level means level sample; with another
// level, or both at once, they are refused rather than ignored.
func (o *verifyOptions) checkFlags(flags *pflag.FlagSet) error {
	if o.level != verify.List && o.level != verify.Sample && o.level != verify.Full {
		return usageError("--level %q: want list, sample or full", o.level)
	}
	sized := flags.Changed("sample") || flags.Changed("budget")
	switch {
	case flags.Changed("sample") && flags.Changed("budget"):
		return usageError("--sample and --budget both size the sample: give one")
	case sized && !flags.Changed("level"):
		o.level = verify.Sample
	case sized && o.level != verify.Sample:
		return usageError("--sample and --budget size the sample of --level sample, not of --level %s", o.level)
	}
	if flags.Changed("sample") && (o.percent <= 0 || o.percent > 100) {
		return usageError("--sample %g: want a percentage above 0 and at most 100", o.percent)
	}
	if o.grace < 0 {
		return usageError("--grace %s: want 0 or more", o.grace)
	}
	if o.parallel < 1 {
		return usageError("--parallel %d: want at least 1", o.parallel)
	}
	n, y, m, d, ok := parsePeriod(o.locksEnding)
	if !ok || n < 0 {
		return usageError("--locks-ending %q: want a number of years, months or days, e.g. 6m, 1y, 90d, or 0", o.locksEnding)
	}
	o.locksPeriod = [3]int{y, m, d}
	if flags.Changed("seed") && o.seed < 0 {
		return usageError("--seed %d: want a whole number of 0 or more", o.seed)
	}
	return checkReport(o.report)
}

func runVerify(cmd *cobra.Command, g *globalOptions, o *verifyOptions) error {
	if err := o.checkFlags(cmd.Flags()); err != nil {
		return err
	}
	st, pub, err := o.reader.open()
	if err != nil {
		return err
	}
	opts := verify.Options{Store: st, Pub: pub, Batch: o.batch, Level: o.level, Percent: o.percent, Parallel: o.parallel, Log: g.log,
		Grace: o.grace, Now: time.Now}
	opts.LocksEndingBy = time.Now().AddDate(o.locksPeriod[0], o.locksPeriod[1], o.locksPeriod[2])
	if o.budget != "" {
		if opts.Budget, err = parseSize(o.budget); err != nil {
			return usageError("--budget %q: %v", o.budget, err)
		}
	}
	if o.seed >= 0 {
		opts.Seed = uint64(o.seed)
	} else {
		opts.Seed = uint64(time.Now().Unix() / 86400)
	}
	// The identity only when asked for by flag or variable: --keys alone
	// gives an operator no more than the public key.
	if p := orEnv(o.reader.keys.identity, "STARMIG_IDENTITY"); p != "" {
		if opts.Identities, err = archive.ReadIdentities(p, askPassphrase); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	if o.drill != "" {
		if len(opts.Identities) == 0 {
			return usageError("--restore-drill needs --identity")
		}
		drill := secret.DSN(o.drill)
		if err := checkDSNFlag("--restore-drill", drill); err != nil {
			return err
		}
		conn, err := batch.Connect(ctx, drill)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		opts.Drill = conn
	}
	if len(opts.Identities) > 0 {
		opts.OnRecord = func(cats []*archive.Catalog) error {
			return keyHolderOnRecord(ctx, st, cats, o, opts)
		}
	}
	var (
		barOnce sync.Once
		bar     *progress
	)
	opts.Progress = func(done, total int64) {
		barOnce.Do(func() { bar = g.progressBytes("verify", total) })
		bar.set(done)
	}
	rep, err := verify.Verify(ctx, opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		if errors.Is(err, verify.ErrCannotRun) {
			return fmt.Errorf("%v (this is not a finding about the archive: nothing was verified)", err)
		}
		return err
	}
	if o.report != "" {
		if err := reportfile.Write(o.report, "Archive verification", func(w io.Writer) error {
			verify.WriteMarkdown(w, rep)
			return nil
		}); err != nil {
			return err
		}
	}
	if err := g.result(rep, func(w io.Writer) { verify.WriteText(w, rep) }); err != nil {
		return err
	}
	if !rep.OK() {
		return &codedError{code: exitVerification, err: fmt.Errorf("%s in the archive", words.Count(len(rep.Findings), "finding"))}
	}
	return nil
}

// keyHolderOnRecord puts a key holder's check on record before it
// decrypts anything: what it reads (level, sample, the drill's database)
// and the runs it may read.
func keyHolderOnRecord(ctx context.Context, st archive.Store, cats []*archive.Catalog, o *verifyOptions, opts verify.Options) error {
	what := "key holder's verification, level " + opts.Level
	switch {
	case opts.Level == verify.Sample && opts.Budget > 0:
		what += fmt.Sprintf(" (budget %d bytes, seed %d)", opts.Budget, opts.Seed)
	case opts.Level == verify.Sample:
		what += fmt.Sprintf(" (%g %%, seed %d)", opts.Percent, opts.Seed)
	}
	if opts.Drill != nil {
		what += ", restore drill into " + secret.DSN(o.drill).String()
	}
	_, err := putOnRecord(ctx, st, cats, archive.AuditEntry{
		Time: time.Now().UTC(), Operator: operatorName(o.operator), Action: "verify", Query: what, Reason: o.reason, Found: true,
	})
	if err != nil {
		return fmt.Errorf("the check was not put on record, so nothing was decrypted: %w", err)
	}
	return nil
}
