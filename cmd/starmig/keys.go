package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/version"
)

func newKeysCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Archive keys"}
	var out string
	var postQuantum bool
	gen := &cobra.Command{
		Use:   "gen",
		Short: "Write a new key set: age recipient and identity, Ed25519 signing key pair, index key",
		Long: `gen writes one key per file into a new folder: recipient.txt (age X25519
recipient, for writers), identity.txt (its age identity, for archivists),
signing.pub and signing.key (Ed25519, PEM, as openssl reads them), and
index.key (32 bytes, hex). Secret files get mode 0600. Hand them out by role:
writers get recipient.txt, signing.key and index.key; archivists
identity.txt, index.key and signing.pub; operators abroad signing.pub only.

With --post-quantum the age recipient and identity are ML-KEM-768 with
X25519 (age1pq1…): files encrypted to it stay closed to a quantum computer
of the future, which could open X25519 ones it finds stored today. Reading
them without starmig then takes age 1.3 or later. A run encrypts to one
kind of recipient only.`,
		Example: "  starmig keys gen --out keys/\n  starmig keys gen --out keys-2027/ --post-quantum",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("out", out, ""); err != nil {
				return err
			}
			generate := archive.GenerateKeys
			if postQuantum {
				generate = archive.GeneratePostQuantumKeys
			}
			if err := generate(out); err != nil {
				return err
			}
			return g.result(map[string]string{"keys": out}, func(w io.Writer) {
				fmt.Fprintf(w, "Keys written to %s (secret files mode 0600). Hand them out by role, each only its own:\n", out)
				for _, r := range archive.Roles {
					fmt.Fprintf(w, "  %-40s %s\n", r.Name+" ("+r.Commands+"):", strings.Join(r.KeyFiles, ", "))
				}
			})
		},
	}
	gen.Flags().StringVar(&out, "out", "", "folder to write the keys into")
	gen.Flags().BoolVar(&postQuantum, "post-quantum", false, "a post-quantum age recipient and identity (ML-KEM-768 with X25519, age1pq1…) instead of X25519")
	cmd.AddCommand(gen)
	return cmd
}

// keyFlags are the key flags of the archive commands; each command
// registers those its role needs, and reads from --keys only those.
type keyFlags struct {
	dir, identity, signKey, indexKey, recipientsFile string
	signPubs                                         []string
	recipients                                       []string
}

func (k *keyFlags) addDir(f *pflag.FlagSet) {
	f.StringVar(&k.dir, "keys", "", "folder with the key files this command needs, as keys gen writes them (default: $STARMIG_KEYS)")
}

func (k *keyFlags) path(flag, env, file string) string {
	if v := orEnv(flag, env); v != "" {
		return v
	}
	if d := orEnv(k.dir, "STARMIG_KEYS"); d != "" {
		return filepath.Join(d, file)
	}
	return ""
}

// A key file's required flag, for requireFlags: its name, its path as
// path finds it (from the flag, its variable or the keys folder), and its
// variable. The readers of the keys and the commands' checks of their
// flags both take the path from here.
func (k *keyFlags) signKeyFile() [3]string {
	return [3]string{"sign-key", k.path(k.signKey, "STARMIG_SIGN_KEY", archive.SignKeyFile), "STARMIG_SIGN_KEY"}
}

func (k *keyFlags) signPubFile() [3]string {
	return [3]string{"sign-pub", k.path(strings.Join(k.signPubs, ""), "STARMIG_SIGN_PUB", archive.SignPubFile), "STARMIG_SIGN_PUB"}
}

func (k *keyFlags) indexKeyFile() [3]string {
	return [3]string{"index-key", k.path(k.indexKey, "STARMIG_INDEX_KEY", archive.IndexKeyFile), "STARMIG_INDEX_KEY"}
}

func (k *keyFlags) identityFile() [3]string {
	return [3]string{"identity", k.path(k.identity, "STARMIG_IDENTITY", archive.IdentityFile), "STARMIG_IDENTITY"}
}

// needPath is the path of a key file's flag (signKeyFile and the rest),
// which must be given.
func needPath(f [3]string) (string, error) {
	return f[1], requireFlags(f)
}

func (k *keyFlags) readRecipients() ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range k.recipients {
		rec, err := archive.ParseRecipient(r)
		if err != nil {
			return nil, usageError("%v", err)
		}
		out = append(out, rec)
	}
	if env := os.Getenv("STARMIG_RECIPIENT"); len(out) == 0 && env != "" {
		for _, r := range strings.Split(env, ",") {
			rec, err := archive.ParseRecipient(r)
			if err != nil {
				return nil, usageError("$STARMIG_RECIPIENT: %v", err)
			}
			out = append(out, rec)
		}
	}
	if p := k.path(k.recipientsFile, "STARMIG_RECIPIENTS_FILE", archive.RecipientFile); p != "" && (len(out) == 0 || k.recipientsFile != "") {
		rs, err := archive.ReadRecipients(p)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, usageError("no recipient: give --recipient, --recipients-file, or --keys DIR")
	}
	return out, nil
}

func (k *keyFlags) readSigningKey() (ed25519.PrivateKey, error) {
	p, err := needPath(k.signKeyFile())
	if err != nil {
		return nil, err
	}
	return archive.ReadSigningKey(p)
}

// readSigningPub reads the signing public keys: of every --sign-pub given,
// else of $STARMIG_SIGN_PUB or the keys folder. Each file may hold several
// keys, the one in use and those it replaced.
func (k *keyFlags) readSigningPub() (archive.SigningKeys, error) {
	if len(k.signPubs) > 1 {
		var keys archive.SigningKeys
		for _, p := range k.signPubs {
			ks, err := archive.ReadSigningPub(p)
			if err != nil {
				return nil, err
			}
			keys = append(keys, ks...)
		}
		return keys, nil
	}
	p, err := needPath(k.signPubFile())
	if err != nil {
		return nil, err
	}
	return archive.ReadSigningPub(p)
}

func (k *keyFlags) readIndexKey() ([]byte, error) {
	p, err := needPath(k.indexKeyFile())
	if err != nil {
		return nil, err
	}
	return archive.ReadIndexKey(p)
}

// readIndexKeys reads the index keys a retrieval may need: of every
// --index-key given (one per key the runs were indexed with), else of
// $STARMIG_INDEX_KEY or the keys folder.
func (k *keyFlags) readIndexKeys(files []string) ([][]byte, error) {
	if len(files) <= 1 {
		k.indexKey = strings.Join(files, "")
		ik, err := k.readIndexKey()
		return [][]byte{ik}, err
	}
	var keys [][]byte
	for _, p := range files {
		ik, err := archive.ReadIndexKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ik)
	}
	return keys, nil
}

func (k *keyFlags) readIdentities() ([]age.Identity, error) {
	p, err := needPath(k.identityFile())
	if err != nil {
		return nil, err
	}
	return archive.ReadIdentities(p, askPassphrase)
}

// askPassphrase gives the passphrase of an identity file kept encrypted
// with one: $STARMIG_IDENTITY_PASSPHRASE where set (a restore drill run by
// a scheduler), else asked on the terminal, not echoed, as the age command
// asks it.
func askPassphrase(path string) (string, error) {
	if p, ok := os.LookupEnv("STARMIG_IDENTITY_PASSPHRASE"); ok {
		return p, nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", errors.New("no terminal to ask for it on: set STARMIG_IDENTITY_PASSPHRASE")
	}
	fmt.Fprintf(os.Stderr, "Passphrase for the identity file %s: ", path)
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("reading it from the terminal: %w", err)
	}
	return string(b), nil
}

// writerFlags are the archive-writing flags shared by archive and migrate.
type writerFlags struct {
	keys                   keyFlags
	retainUntil, retention string
	bundleSize             string
	skipTables             []string
	waitForStorage         string
}

func (w *writerFlags) add(f *pflag.FlagSet) {
	w.keys.addDir(f)
	f.StringSliceVar(&w.keys.recipients, "recipient", nil, "age recipient to encrypt to, repeatable (default: $STARMIG_RECIPIENT, comma-separated)")
	f.StringVar(&w.keys.recipientsFile, "recipients-file", "", "file of age recipients, one per line (default: $STARMIG_RECIPIENTS_FILE)")
	f.StringVar(&w.keys.signKey, "sign-key", "", "Ed25519 signing key, PEM (default: $STARMIG_SIGN_KEY)")
	f.StringVar(&w.keys.indexKey, "index-key", "", "index key file (default: $STARMIG_INDEX_KEY)")
	f.StringVar(&w.retainUntil, "retain-until", "", "lock every object until this date YYYY-MM-DD (default: $STARMIG_RETAIN_UNTIL)")
	f.StringVar(&w.retention, "retention", "", "lock every object for this long from now: 10y, 18m, 90d (default: $STARMIG_RETENTION, else 10y)")
	f.StringSliceVar(&w.skipTables, "skip-table", nil, "leave out a table of STAR1 that STAR1.md does not describe, repeatable; the catalog records it (default: $STARMIG_SKIP_TABLES, comma-separated)")
	f.StringVar(&w.bundleSize, "bundle-size", "", "ceiling on a bundle's payload before compression, e.g. 256MiB (default: $STARMIG_BUNDLE_SIZE, else 256MiB)")
	f.StringVar(&w.waitForStorage, "wait-for-storage", "", "how long a write to S3 keeps asking a storage that does not answer (a link that is down) before the run stops, e.g. 10m, 1h; 0 gives up after five tries (default: $STARMIG_WAIT_FOR_STORAGE, else 10m)")
}

// config resolves an archive writer's configuration.
func (w *writerFlags) config(to, batchName, source string, now time.Time) (archive.Config, error) {
	cfg := archive.Config{Batch: batchName, Now: now, Source: source, Writer: version.String()}
	st, err := archive.OpenStore(to, os.Getenv)
	if err != nil {
		return cfg, usageError("%v", err)
	}
	cfg.Store = st
	wait := orEnv(w.waitForStorage, "STARMIG_WAIT_FOR_STORAGE")
	if wait == "" {
		wait = "10m"
	}
	d, err := time.ParseDuration(wait)
	if err != nil || d < 0 {
		return cfg, usageError("--wait-for-storage %q: want a duration such as 10m or 1h (0 gives up after five tries)", wait)
	}
	if s3, ok := st.(*archive.S3Store); ok {
		s3.SetWriteWait(d)
	}
	if cfg.Recipients, err = w.keys.readRecipients(); err != nil {
		return cfg, err
	}
	if err := archive.CheckRecipients(cfg.Recipients); err != nil {
		return cfg, usageError("%v", err)
	}
	if cfg.SignKey, err = w.keys.readSigningKey(); err != nil {
		return cfg, err
	}
	if cfg.IndexKey, err = w.keys.readIndexKey(); err != nil {
		return cfg, err
	}
	if cfg.RetainUntil, err = retainUntil(orEnv(w.retainUntil, "STARMIG_RETAIN_UNTIL"), orEnv(w.retention, "STARMIG_RETENTION"), now); err != nil {
		return cfg, err
	}
	skip := w.skipTables
	if env := os.Getenv("STARMIG_SKIP_TABLES"); len(skip) == 0 && env != "" {
		skip = strings.Split(env, ",")
	}
	for _, s := range skip {
		if s = strings.TrimSpace(s); s != "" {
			cfg.SkipTables = append(cfg.SkipTables, s)
		}
	}
	if s := orEnv(w.bundleSize, "STARMIG_BUNDLE_SIZE"); s != "" {
		if cfg.BundleSize, err = parseSize(s); err != nil {
			return cfg, usageError("--bundle-size %q: %v", s, err)
		}
		if cfg.BundleSize < minBundleSize {
			return cfg, usageError("--bundle-size %q: want at least 1MiB (each bundle adds some 20 KB of manifests, tag files and table lists, locked like its payload)", s)
		}
	}
	return cfg, nil
}

// minBundleSize is the least --bundle-size taken: a mistyped unit
// ("1KB" for "1GB") would lock a bundle for every few rows.
const minBundleSize = 1 << 20

func retainUntil(until, retention string, now time.Time) (time.Time, error) {
	if until != "" && retention != "" {
		return time.Time{}, usageError("give --retain-until or --retention, not both")
	}
	if until != "" {
		t, err := parseDay("retain-until", until)
		if err != nil {
			return t, err
		}
		if !t.After(now) {
			return t, usageError("--retain-until %s is not in the future", until)
		}
		return t, nil
	}
	if retention == "" {
		retention = "10y"
	}
	n, years, months, days, ok := parsePeriod(retention)
	switch {
	case !ok:
		return time.Time{}, usageError("--retention %q: want a number of years, months or days, e.g. 10y, 18m, 90d", retention)
	case n <= 0:
		return time.Time{}, usageError("--retention %q: the archive is locked for the retention, so it must be 1 or more", retention)
	case n >= 100_000 || now.AddDate(years, months, days).Year() > 9999:
		return time.Time{}, usageError("--retention %q: that would lock the archive past the year 9999", retention)
	}
	return now.AddDate(years, months, days), nil
}

// parsePeriod reads a number, then its unit in any case, short or long:
// 10y, 10Y, 10 years, 18m, 18 months, 90d, or 0 alone. n is the number;
// one of years, months and days is n, the others 0.
func parsePeriod(s string) (n, years, months, days int, ok bool) {
	lower := strings.ToLower(strings.TrimSpace(s))
	num := strings.TrimRight(lower, "abcdefghijklmnopqrstuvwxyz")
	unit := strings.TrimSpace(lower[len(num):])
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return 0, 0, 0, 0, false
	}
	switch unit {
	case "y", "year", "years":
		years = n
	case "m", "month", "months":
		months = n
	case "d", "day", "days":
		days = n
	case "":
		// 0 needs no unit.
		return n, 0, 0, 0, n == 0
	default:
		return 0, 0, 0, 0, false
	}
	return n, years, months, days, true
}

// parseSize reads a size in bytes: a whole number with an optional unit,
// in any case, binary (KiB, MiB, GiB, TiB, and K, M, G, T alone) or
// decimal (KB, MB, GB, TB), or B.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	lower := strings.ToLower(num)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("want a whole number of bytes above 0, or one with a unit, such as 256MiB or 500MB")
	}
	return n * mult, nil
}

// readerFlags are the flags every command that reads an archive has:
// where it is, and the keys of the reader's role.
type readerFlags struct {
	from string
	keys keyFlags
}

func (r *readerFlags) add(f *pflag.FlagSet, identityHelp string) {
	f.StringVar(&r.from, "archive", "", "archive: file:///path or s3://bucket/prefix (default: $STARMIG_ARCHIVE)")
	r.keys.addDir(f)
	f.StringArrayVar(&r.keys.signPubs, "sign-pub", nil, "signing public key, PEM; repeat it, or put one PEM block after another in the file, for keys that signed earlier runs (default: $STARMIG_SIGN_PUB)")
	f.StringVar(&r.keys.identity, "identity", "", identityHelp+passphraseHelp)
}

// passphraseHelp ends the help of every --identity flag.
const passphraseHelp = "; one encrypted with a passphrase (age -p) asks for it, or reads $STARMIG_IDENTITY_PASSPHRASE (default: $STARMIG_IDENTITY)"

// required lists the flags a command that reads the archive must have
// been given: the archive and the signing public key, and with decrypt
// the identity.
func (r *readerFlags) required(decrypt bool) [][3]string {
	k := &r.keys
	out := [][3]string{{"archive", orEnv(r.from, "STARMIG_ARCHIVE"), "STARMIG_ARCHIVE"}, k.signPubFile()}
	if decrypt {
		out = append(out, k.identityFile())
	}
	return out
}

// open checks that the archive, the signing public key and the command's
// other required flags (also) are given, naming every one missing at once,
// then opens the archive's store and reads the signing public key.
func (r *readerFlags) open(also ...[3]string) (archive.Store, archive.SigningKeys, error) {
	return r.openChecked(append(r.required(false), also...))
}

// openDecrypting opens the archive as open does, the identity required
// too, and reads the age identities that decrypt it, for the key holder's
// commands.
func (r *readerFlags) openDecrypting(also ...[3]string) (archive.Store, archive.SigningKeys, []age.Identity, error) {
	st, pub, err := r.openChecked(append(r.required(true), also...))
	if err != nil {
		return nil, nil, nil, err
	}
	ids, err := r.keys.readIdentities()
	if err != nil {
		return nil, nil, nil, err
	}
	return st, pub, ids, nil
}

func (r *readerFlags) openChecked(need [][3]string) (archive.Store, archive.SigningKeys, error) {
	if err := requireFlags(need...); err != nil {
		return nil, nil, err
	}
	st, err := archive.OpenStore(orEnv(r.from, "STARMIG_ARCHIVE"), os.Getenv)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	pub, err := r.keys.readSigningPub()
	return st, pub, err
}

// operatorName is who is on record for a retrieval or restore: the flag,
// else $STARMIG_OPERATOR, else the OS user.
func operatorName(flag string) string {
	if op := orEnv(flag, "STARMIG_OPERATOR"); op != "" {
		return op
	}
	return osUser()
}
