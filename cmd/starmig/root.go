package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pgsession"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/internal/version"
	"github.com/starmig/starmig/internal/words"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	quiet      bool
	json       bool
	cpuProfile string
	memProfile string
	out        io.Writer // results: stdout
	err        io.Writer // progress, logs and errors: stderr
	log        *slog.Logger
}

const rootLong = `starmig moves STAR1, the legacy social-services register (Oracle), into
STAR2 (PostgreSQL) batch by batch, accounting for every row, and into an
archive abroad that survives without it.

Exit codes:
  0    success
  1    error: the command could not do its work
  2    usage: wrong flags or arguments
  3    findings: reconciliation differences or pre-flight findings (such as
       unmapped classifier codes)
  4    verification findings in the archive, audit entries that cannot
       be read, or a restore or retrieve --skip-unreadable that left
       parts out
  130  interrupted (SIGINT or SIGTERM); work done so far is kept and a
       re-run continues from it

Flags win over environment variables; each flag's help names its variable.`

func newRootCommand() *cobra.Command {
	opts := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "starmig",
		Short:         "Migrate STAR1 to STAR2 and archive it",
		Long:          rootLong,
		Example:       "  starmig demo\n  starmig gen --out star1.db --persons 10000 --seed 1",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			opts.out, opts.err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := checkTildes(cmd.Flags(), os.Environ()); err != nil {
				return err
			}
			level := slog.LevelInfo
			if opts.quiet {
				level = slog.LevelError
			}
			opts.log = slog.New(slog.NewTextHandler(opts.err, &slog.HandlerOptions{Level: level}))
			if opts.cpuProfile != "" {
				f, err := os.Create(opts.cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if opts.cpuProfile != "" {
				pprof.StopCPUProfile()
			}
			if opts.memProfile != "" {
				if f, err := os.Create(opts.memProfile); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}
		},
	}
	cmd.PersistentFlags().BoolVarP(&opts.quiet, "quiet", "q", false, "no progress, only errors")
	cmd.PersistentFlags().BoolVar(&opts.json, "json", false, "machine-readable results on stdout")
	cmd.PersistentFlags().StringVar(&opts.cpuProfile, "cpu-profile", "", "write a CPU profile of the command to this file")
	_ = cmd.PersistentFlags().MarkHidden("cpu-profile")
	cmd.PersistentFlags().StringVar(&opts.memProfile, "mem-profile", "", "write a profile of the command's allocations to this file")
	_ = cmd.PersistentFlags().MarkHidden("mem-profile")
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError("%v%s", flagError(err), flagMeant(c, err)) })
	cmd.AddCommand(newGenCommand(opts), newSchemaCommand(opts), newMigrateCommand(opts), newReconcileCommand(opts), newDemoCommand(opts),
		newKeysCommand(opts), newArchiveCommand(opts), newRetrieveCommand(opts), newRestoreCommand(opts), newVerifyCommand(opts), newResolveCommand(opts), newAuditCommand(opts), newStatusCommand(opts), newRetainCommand(opts))
	return cmd
}

// flagError words a flag value the flag's type refuses as starmig's other
// usage errors are, the flag and value first and then what is wanted,
// instead of pflag's "invalid argument … strconv.ParseInt: parsing …".
func flagError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	f := bad.GetFlag()
	want := flagWants[f.Value.Type()]
	if want == "" {
		return err
	}
	return fmt.Errorf("--%s %q: %s", f.Name, bad.GetValue(), want)
}

// flagMeant names the flag of c that an unknown one was probably meant
// to be, a slip of a letter or two (--bach for --batch), as cobra names a
// command; "" when none is that close.
func flagMeant(c *cobra.Command, err error) string {
	var unknown *pflag.NotExistError
	if !errors.As(err, &unknown) {
		return ""
	}
	given := unknown.GetSpecifiedName()
	if len(given) < 3 {
		return ""
	}
	best, dist := "", 3
	closest := func(f *pflag.Flag) {
		if d := editDistance(given, f.Name); d < dist {
			best, dist = f.Name, d
		}
	}
	c.Flags().VisitAll(closest)
	c.InheritedFlags().VisitAll(closest)
	if best == "" {
		return ""
	}
	return "; did you mean --" + best + "?"
}

// editDistance is the number of letters to change, add or remove to make a
// into b (Levenshtein).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// flagWants says what a flag of each type wants, by pflag's type name.
var flagWants = map[string]string{
	"int":      "want a whole number",
	"int64":    "want a whole number",
	"uint":     "want a whole number of 0 or more",
	"uint64":   "want a whole number of 0 or more",
	"float64":  "want a number",
	"duration": "want a duration, such as 90s, 30m or 2h",
	"bool":     "want true or false",
}

// args checks positional arguments and reports a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// orEnv returns a flag's value, or when it was not given the environment
// variable's: flags win. The value is resolved after parsing so that help
// never prints a secret from the environment as a default.
func orEnv(flag, env string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(env)
}

// interactive reports whether progress bars belong on w.
func (o *globalOptions) interactive() bool {
	if o.quiet || o.json {
		return false
	}
	f, ok := o.err.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// result prints v as JSON with --json, or text otherwise.
func (o *globalOptions) result(v any, text func(io.Writer)) error {
	if o.json {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if !o.quiet {
		text(o.out)
	}
	return nil
}

// intOrEnv resolves a whole-number flag: the flag when given (0 too), else
// the environment variable, else def.
func intOrEnv(flags *pflag.FlagSet, name string, value int, env string, def int) (int, error) {
	if flags.Changed(name) {
		return value, nil
	}
	v := os.Getenv(env)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, usageError("$%s %q: want a whole number", env, v)
	}
	return n, nil
}

// codeList splits a comma-separated list of codes given to --name. A list
// that was given and holds no code ("," or spaces) is refused: read as no
// list, it would mean every municipality.
func codeList(name, value string) ([]string, error) {
	var codes []string
	for _, c := range strings.Split(value, ",") {
		if c = strings.TrimSpace(c); c != "" {
			codes = append(codes, c)
		}
	}
	if value != "" && len(codes) == 0 {
		return nil, usageError("--%s %q: no code in it (leave --%s out for all municipalities)", name, value, name)
	}
	return codes, nil
}

// checkDSNFlag refuses a connection string pgx cannot read, naming the
// flag (--to, --restore-drill) that gave it, masked: a usage error, made
// before anything is read.
func checkDSNFlag(flag string, dsn secret.DSN) error {
	if err := secret.CheckPassword(dsn.Reveal()); err != nil {
		return fmt.Errorf("%s %w", flag, err)
	}
	if _, err := pgsession.ParseConfig(dsn.Reveal()); err != nil {
		return fmt.Errorf("%s %s: %w", flag, dsn, secret.ConfigError(err, dsn.Reveal()))
	}
	return nil
}

func requireFlag(name, value, env string) error {
	return requireFlags([3]string{name, value, env})
}

// requireFlags refuses a command whose required flags (name, value and
// variable) are not all given, naming every one missing in one message, so
// that a command run with none of them is not refused once per flag. The
// value of a key file's flag is its path as keyFlags.path finds it.
func requireFlags(flags ...[3]string) error {
	var names, envs []string
	keys := 0
	for _, f := range flags {
		if f[1] != "" {
			continue
		}
		names = append(names, "--"+f[0])
		if keyFlagNames[f[0]] {
			keys++
		}
		if f[2] != "" {
			envs = append(envs, "$"+f[2])
		}
	}
	if len(names) == 0 {
		return nil
	}
	verb := "is"
	if len(names) > 1 {
		verb = "are"
	}
	msg := words.List(names) + " " + verb + " required"
	switch {
	case keys == 1 && len(names) == 1:
		msg += " (or set " + words.List(envs) + ", or give --keys DIR)"
	case keys > 0:
		msg += " (or set " + words.List(envs) + ", or give the keys with --keys DIR)"
	case len(envs) > 0:
		msg += " (or set " + words.List(envs) + ")"
	}
	return usageError("%s", msg)
}

// keyFlagNames are the flags of key files that --keys DIR gives too.
var keyFlagNames = map[string]bool{"sign-pub": true, "sign-key": true, "identity": true, "index-key": true}

// checkSource refuses a --source that names no kind of STAR1 starmig reads,
// as a usage error, before anything connects.
func checkSource(url string) error {
	if err := extract.CheckURL(url); err != nil {
		return usageError("--source: %v", err)
	}
	return nil
}

// requiredDSN is a PostgreSQL URL from its flag or, without it, its
// variable; neither is a usage error.
func requiredDSN(name, flag, env string) (secret.DSN, error) {
	dsn := secret.DSN(orEnv(flag, env))
	return dsn, requireFlag(name, dsn.Reveal(), env)
}

// checkBatchName refuses a batch name that could not name the batch's
// folder in the archive, for migrate as for archive, so that a batch
// migrated under one name can be archived under the same.
func checkBatchName(name string) error {
	if !archive.ValidBatchName(name) {
		return usageError("--batch %q: %s", name, archive.BatchNameRule)
	}
	return nil
}

// parseDay reads a YYYY-MM-DD flag value.
func parseDay(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	var pe *time.ParseError
	if errors.As(err, &pe) && strings.HasSuffix(pe.Message, "out of range") {
		return t, usageError("--%s %q: no such day in the calendar", flag, v)
	}
	if err != nil {
		return t, usageError("--%s %q: want YYYY-MM-DD", flag, v)
	}
	return t, nil
}

// checkTildes refuses a path that begins with a ~ the shell left as it
// is: it expands ~ only at the start of a word, so --out=~/r,
// sqlite:~/star1.db and file://~/archive reach starmig with the ~, which
// would read or make a folder named ~ in the current one. The flags set
// and the STARMIG_ variables of paths are checked; a ~ folder that exists
// here is taken to be meant.
func checkTildes(flags *pflag.FlagSet, environ []string) error {
	if _, err := os.Lstat("~"); err == nil {
		return nil
	}
	check := func(what, v string) error {
		p := v
		for _, prefix := range []string{"sqlite:", "file://"} {
			p = strings.TrimPrefix(p, prefix)
		}
		if p != "~" && !strings.HasPrefix(p, "~/") {
			return nil
		}
		prefix := strings.TrimSuffix(v, p)
		after := "="
		if prefix != "" {
			after = fmt.Sprintf("= or %q", prefix)
		}
		return usageError("%s %q: the ~ was left as it is (a shell expands it only at the start of a word, not after %s): give %s, or the whole path",
			what, v, after, prefix+"$HOME"+strings.TrimPrefix(p, "~"))
	}
	var err error
	flags.Visit(func(f *pflag.Flag) {
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			if err == nil {
				err = check("--"+f.Name, v)
			}
		}
	})
	for _, kv := range environ {
		if name, v, ok := strings.Cut(kv, "="); ok && err == nil && pathVariables[name] {
			err = check("$"+name, v)
		}
	}
	return err
}

// pathVariables are the STARMIG_ variables that name a file, a folder or
// a source or archive by a URL that may hold a path; the others are not
// quoted, since some hold secrets.
var pathVariables = map[string]bool{
	"STARMIG_ARCHIVE": true, "STARMIG_IDENTITY": true, "STARMIG_INDEX_KEY": true, "STARMIG_KEYS": true,
	"STARMIG_MAPPINGS": true, "STARMIG_RECIPIENTS_FILE": true, "STARMIG_S3_CA_FILE": true,
	"STARMIG_SIGN_KEY": true, "STARMIG_SIGN_PUB": true, "STARMIG_SOURCE": true,
}
