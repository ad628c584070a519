package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/internal/reportfile"
	"github.com/starmig/starmig/internal/words"
	"github.com/starmig/starmig/mapping"
)

type retrieveOptions struct {
	batch, person, isikID, proceeding, reason, out, operator string
	allRuns, skipUnreadable                                  bool
	indexKeys                                                []string
	reader                                                   readerFlags
}

func newRetrieveCommand(g *globalOptions) *cobra.Command {
	o := &retrieveOptions{}
	cmd := &cobra.Command{
		Use:   "retrieve",
		Short: "Retrieve one person's or one proceeding's records from the archive, on record",
		Long: `retrieve finds every row of every STAR1 table that belongs to one person (by
personal code or STAR1 ISIK_ID) or one proceeding (MENETLUS_ID), with its
documents, in the newest archive run (of any batch, or of --batch): every
run holds all of STAR1 as it was when that run was written. Where the newest
run holds none (STAR1 deleted them before it), the newest earlier run that
does is shown; --all-runs shows every earlier run too, for rows changed or
deleted between runs. A run that cannot be read as written (a damaged
catalog or bundle) stops the retrieval, naming what is wrong;
--skip-unreadable, for a crisis, reads the run without the bundles and
files it cannot read, or lists the run when its catalog cannot be read,
searches the earlier runs as for a run that holds no rows, and exits 4.
It reads only the blocks that hold the rows, through each bundle's index,
and checks the catalog's and bundles' signatures. A reason is required:
who, when, what and why go into the archive's audit log first (on S3, a
locked object per entry), and a retrieval that cannot be put on record
does not happen.

It writes retrieval.json, retrieval.md, the same report as retrieval.html,
and the documents into --out.`,
		Example: `  starmig retrieve --archive file:///srv/archive --keys keys/ --person 38001010014 --reason "court request 2026/17"
  starmig retrieve --archive s3://star1-archive/prod --identity identity.txt --index-key index.key --sign-pub signing.pub \
    --proceeding 123456 --reason "adoption file review" --out /tmp/case-123456`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRetrieve(cmd, g, o) },
	}
	f := cmd.Flags()
	o.reader.add(f, "age identity file")
	f.StringArrayVar(&o.indexKeys, "index-key", nil, "index key file; repeat it when the key was replaced between runs (default: $STARMIG_INDEX_KEY)")
	f.StringVar(&o.batch, "batch", "", "only the runs of this batch (default: the newest run of any batch, then earlier runs of every batch)")
	f.StringVar(&o.person, "person", "", "personal code (ISIKUKOOD)")
	f.StringVar(&o.isikID, "isik-id", "", "STAR1 person id (ISIK_ID)")
	f.StringVar(&o.proceeding, "proceeding", "", "STAR1 proceeding id (MENETLUS_ID)")
	f.StringVar(&o.reason, "reason", "", "why the records are needed (required; goes into the audit log)")
	f.StringVar(&o.out, "out", "", "new or empty folder for retrieval.json, retrieval.md, retrieval.html and documents (default: a new ./retrieval-<time>)")
	f.StringVar(&o.operator, "operator", "", "who retrieves (default: $STARMIG_OPERATOR, else the OS user)")
	f.BoolVar(&o.allRuns, "all-runs", false, "also search every earlier run of each batch, newest first")
	f.BoolVar(&o.skipUnreadable, "skip-unreadable", false, "leave out what cannot be read as written (files, bundles, or a whole run) and search earlier runs, instead of stopping; exits 4 if it left out any")
	return cmd
}

// putOnRecord writes an audit entry about reading the runs of cats: the
// OS user and host beside the operator, encrypted to the runs' recipients,
// locked as long as the longest kept of them (archive.AuditRetention).
func putOnRecord(ctx context.Context, st archive.Store, cats []*archive.Catalog, e archive.AuditEntry) (string, error) {
	recipients, err := archive.CatalogRecipients(cats)
	if err != nil {
		return "", err
	}
	retain, err := archive.AuditRetention(ctx, st, cats, e.Time)
	if err != nil {
		return "", err
	}
	e.Runs = nil
	for _, c := range cats {
		e.Runs = append(e.Runs, c.Batch+"/"+c.Run)
	}
	e.OSUser = osUser()
	e.Host, _ = os.Hostname()
	return archive.WriteAudit(ctx, st, recipients, e, retain)
}

// osUser names the account this process runs as, for the audit log and
// the decisions on record.
func osUser() string {
	return accountName(user.Current, os.Getenv("USER"), os.Getuid())
}

// accountName is the account's name as the system lists it; else, where
// the system does not list it (a container run under an arbitrary uid,
// often without USER or HOME), its numeric uid, with USER where set, so
// that no entry on record names no one. uid is -1 where the system has
// none (Windows).
func accountName(current func() (*user.User, error), envUser string, uid int) string {
	if u, err := current(); err == nil && u.Username != "" {
		return u.Username
	}
	switch {
	case uid >= 0 && envUser != "":
		return fmt.Sprintf("%s (uid %d)", envUser, uid)
	case uid >= 0:
		return fmt.Sprintf("uid %d", uid)
	case envUser != "":
		return envUser
	}
	return "an account the system does not name"
}

// retrieveQuery is the one query the flags ask for.
func retrieveQuery(o *retrieveOptions) (archive.Query, error) {
	var q archive.Query
	n := 0
	if o.person != "" {
		// Spaces around a code pasted from a letter or a form are not part
		// of it.
		if q = archive.PersonByCode(strings.TrimSpace(o.person)); q.PersonCode == "" {
			return archive.Query{}, usageError("--person %q: want a personal code", o.person)
		}
		n++
	}
	for _, x := range []struct {
		flag, v string
		query   func(int64) archive.Query
	}{{"isik-id", o.isikID, archive.PersonByID}, {"proceeding", o.proceeding, archive.ProceedingByID}} {
		if x.v == "" {
			continue
		}
		// STAR1's ids are NUMBER(12): sequences give positive ones, but
		// a row of id 0 or below is archived and can be asked for too.
		id, err := strconv.ParseInt(strings.TrimSpace(x.v), 10, 64)
		if err != nil || id < -999_999_999_999 || id > 999_999_999_999 {
			return archive.Query{}, usageError("--%s %q: want a whole number of at most 12 digits, as STAR1's ids are", x.flag, x.v)
		}
		q, n = x.query(id), n+1
	}
	if n != 1 {
		return archive.Query{}, usageError("give exactly one of --person, --isik-id, --proceeding")
	}
	return q, nil
}

func runRetrieve(cmd *cobra.Command, g *globalOptions, o *retrieveOptions) error {
	q, err := retrieveQuery(o)
	if err != nil {
		return err
	}
	// retrieve's --index-key may be repeated; given once or more, it is given.
	given := o.reader.keys
	given.indexKey = strings.Join(o.indexKeys, "")
	st, pub, ids, err := o.reader.openDecrypting(given.indexKeyFile(), [3]string{"reason", o.reason, ""})
	if err != nil {
		return err
	}
	ik, err := o.reader.keys.readIndexKeys(o.indexKeys)
	if err != nil {
		return err
	}
	now := time.Now()
	res, read, err := retrieveTo(cmd.Context(), st, pub, ids, ik, q, retrieval{o.batch, o.reason, o.operator, o.out, o.allRuns, o.skipUnreadable}, now)
	if err != nil {
		return err
	}
	var left error
	if res.Unread > 0 {
		left = &codedError{code: exitVerification, err: fmt.Errorf("retrieve left out %s it could not read, in whole or in part", words.Count(res.Unread, "archive run"))}
	}
	if g.json {
		// retrieval.json, which holds the documents as they were (the
		// spool they were read from is gone by now).
		f, err := os.Open(filepath.Join(res.Out, "retrieval.json"))
		if err != nil {
			return fmt.Errorf("retrieve: %w", err)
		}
		defer f.Close()
		if _, err = io.Copy(g.out, f); err != nil {
			return err
		}
		return left
	}
	rows := res.Rows()
	if err := g.result(res, func(w io.Writer) {
		defer printUnreadRuns(w, res)
		if !res.Found && res.Unread > 0 {
			fmt.Fprintf(w, "No archive run that could be read holds rows for %s, written to %s. The retrieval is on record (%s).\n", res.Query, res.Out, res.Audit)
			return
		}
		if !res.Found {
			fmt.Fprintf(w, "The archive holds no rows for %s. The retrieval is on record (%s).\n", res.Query, res.Audit)
			if hint := codeHint(q.PersonCode); hint != "" {
				fmt.Fprintln(w, hint)
			}
			return
		}
		fmt.Fprintf(w, "%s and %s of %s, read %s of the archive in %.2fs, written to %s (retrieval.html, retrieval.md, retrieval.json). On record: %s.\n",
			words.Count(rows, "row"), words.Count(res.Files(), "document file"), res.Query, humanBytes(read), time.Since(now).Seconds(), res.Out, res.Audit)
		if res.Earlier {
			fmt.Fprintln(w, "Some come from an earlier archive run than the newest of their batch: the report says which.")
		}
		for _, run := range res.Runs {
			if len(run.SameCode) > 0 {
				fmt.Fprintln(w, "The person's personal code is held by other ISIK rows too (duplicates): the report names them, and a retrieval by --person gives all of them.")
				break
			}
		}
		for _, run := range res.Runs {
			if left := archive.TablesText(run.LeftOut, false); left != "" {
				fmt.Fprintf(w, "Archive run %s left out tables STAR1.md does not describe: %s. Rows of this record in them, if any, are not in the archive.\n", run.Run, left)
			}
		}
		for _, run := range res.Runs {
			if run.Absent != "" {
				fmt.Fprintf(w, "The archive holds no %s row itself: the rows found refer to it as orphans (rule 5). The report says in which runs.\n", run.Absent)
				break
			}
		}
	}); err != nil {
		return err
	}
	return left
}

// printUnreadRuns lists the runs a retrieve --skip-unreadable left out.
func printUnreadRuns(w io.Writer, res *archive.RetrievalResult) {
	if res.Unread == 0 {
		return
	}
	fmt.Fprintf(w, "Left out as unreadable (rows of %s they hold are not in the retrieval); verify --level full names every damaged object:\n", res.Query)
	for _, run := range res.Runs {
		switch {
		case len(run.UnreadParts) > 0:
			fmt.Fprintf(w, "  batch %s run %s, read without %s (the rest of it was read): %s\n", run.Batch, run.Run,
				words.Printable(strings.Join(run.UnreadParts, ", ")), words.Printable(run.Unread))
		case run.Unread != "":
			fmt.Fprintf(w, "  batch %s run %s: %s\n", run.Batch, run.Run, words.Printable(run.Unread))
		}
	}
}

// codeHint says what may be wrong with a personal code as typed, for a
// retrieval that found nothing: spaces or dashes inside it, a digit too
// few or too many, or a code that fails the rules of a personal code. It
// is searched as given all the same, since STAR1 holds some invalid codes
// as they were entered.
// A foreign identifier may have any shape, but one typed in small
// letters is named with its capitals. "" when the code looks right.
func codeHint(code string) string {
	if code == "" {
		return ""
	}
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if compact != code && mapping.LooksLikePersonalCode(compact) {
		return fmt.Sprintf("%q has spaces or dashes inside, and personal codes are held as 11 digits: try --person %s.", code, compact)
	}
	if n := len(compact); n >= 9 && n <= 13 && n != 11 && strings.Trim(compact, "0123456789") == "" {
		return fmt.Sprintf("%s has %d digits, and personal codes have 11: mistyped? It was searched as given, since STAR1 holds foreign identifiers of any shape.", compact, n)
	}
	if !mapping.LooksLikePersonalCode(code) {
		if up := strings.ToUpper(code); up != code {
			return fmt.Sprintf("%q has small letters, and codes are matched exactly as STAR1 holds them: if it was entered in capitals, as foreign identifiers mostly are, try --person %s.", code, up)
		}
		return ""
	}
	var bad *mapping.PersonalCodeError
	if _, err := mapping.ParsePersonalCode(code); errors.As(err, &bad) {
		return fmt.Sprintf("%s is not a valid personal code (%s): mistyped? It was searched as given, since STAR1 holds some invalid codes as they were entered.", code, bad.Reason)
	}
	return ""
}

func writeRetrieval(out string, res *archive.RetrievalResult, found []*archive.Found) error {
	if err := os.MkdirAll(filepath.Join(out, "documents"), 0o700); err != nil {
		return fmt.Errorf("retrieve: %w", err)
	}
	// The same document may come from several runs (of several batches,
	// or earlier runs): one file when it is the same, a file for each run
	// when it changed between them.
	type version struct {
		id  int64
		sum [32]byte
	}
	fileOf := map[version]string{} // the file of each version written
	taken := map[string]bool{}
	for _, f := range found {
		for _, row := range f.Tables["DOKUMENT"] {
			id, _ := row[0].(int64)
			name, _ := row[2].(string)
			var sum [32]byte
			switch content := row[4].(type) {
			case []byte:
				sum = sha256.Sum256(content)
			case *archive.SpooledDocument:
				sum = content.SHA256
			default:
				continue
			}
			file, seen := fileOf[version{id, sum}]
			if !seen {
				file = filepath.Join("documents", archive.DocumentName(id, name))
				if taken[file] {
					file = filepath.Join("documents", archive.DocumentName(id, f.Batch+"-"+f.Run+"-"+name))
				}
			}
			path := filepath.Join(out, file)
			var err error
			size := 0
			switch content := row[4].(type) {
			case []byte:
				size = len(content)
				if !seen {
					err = os.WriteFile(path, content, 0o600)
				}
			case *archive.SpooledDocument:
				size = int(content.Size)
				if !seen {
					err = writeFileFrom(path, content)
				}
				if err == nil {
					content.WrittenTo(path)
				}
			}
			if err != nil {
				return fmt.Errorf("retrieve: %w", err)
			}
			fileOf[version{id, sum}], taken[file] = file, true
			res.Docs = append(res.Docs, archive.DocFile{Batch: f.Batch, Run: f.Run, ID: id, File: file, Size: size})
		}
	}
	// Rows are encoded as they are written: a proceeding's documents are
	// not gathered as JSON in memory.
	jf, err := os.OpenFile(filepath.Join(out, "retrieval.json"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("retrieve: %w", err)
	}
	if err := res.WriteJSON(jf); err != nil {
		jf.Close()
		return fmt.Errorf("retrieve: retrieval.json: %w", err)
	}
	if err := jf.Close(); err != nil {
		return fmt.Errorf("retrieve: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(out, "retrieval.md"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("retrieve: %w", err)
	}
	if err := archive.WriteMarkdown(f, res, found); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("retrieve: %w", err)
	}
	// The same report as a page, for a browser.
	return reportfile.Write(filepath.Join(out, "retrieval.html"), "STAR1 archive retrieval: "+res.Query, func(w io.Writer) error {
		return archive.WriteMarkdown(w, res, found)
	})
}

// writeFileFrom writes a file, mode 0600, from src.
func writeFileFrom(name string, src io.WriterTo) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := src.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Close()
}

// retrievalFolder is the folder a retrieval is written to: out, which must
// be new or empty, since a retrieval written over another would hand out
// the other's documents with it; or, without out, a new folder named after
// the time.
func retrievalFolder(out string, now time.Time) (string, error) {
	if out == "" {
		base := "retrieval-" + now.UTC().Format("20060102T150405Z")
		out = base
		for i := 2; ; i++ {
			_, err := os.Lstat(out)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return out, nil
			case err != nil:
				return "", fmt.Errorf("retrieve: %s: %w", out, err)
			}
			out = fmt.Sprintf("%s-%d", base, i)
		}
	}
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return out, nil
	case err != nil:
		return "", fmt.Errorf("retrieve: --out %s: %w", out, err)
	case !fi.IsDir():
		return "", usageError("--out %s is a file: give a new or empty folder", out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return "", fmt.Errorf("retrieve: --out %s: %w", out, err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries[:min(len(entries), 3)] {
			names = append(names, e.Name())
		}
		if len(entries) > 3 {
			names = append(names, "…")
		}
		return "", usageError("--out %s is not empty (%s): a retrieval goes into a new or empty folder, so that it is never mixed with another's documents", out, strings.Join(names, ", "))
	}
	return out, nil
}

// retrieval is what retrieveTo is asked besides the query.
type retrieval struct {
	batch, reason, operator, out string
	allRuns, skipUnreadable      bool
}

// retrieveTo retrieves, puts the retrieval on record, and writes the
// result into out; it returns the result and the bytes read.
func retrieveTo(ctx context.Context, st archive.Store, pub archive.SigningKeys, ids []age.Identity, ik [][]byte, q archive.Query,
	o retrieval, now time.Time) (*archive.RetrievalResult, int64, error) {
	out, err := retrievalFolder(o.out, now)
	if err != nil {
		return nil, 0, err
	}
	_, err = os.Stat(out)
	made := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, 0, fmt.Errorf("retrieve: %w", err)
	}
	done := false
	defer func() {
		if !done && made {
			os.Remove(out) // empty unless results were being written
		}
	}()
	// Large documents wait in the folder, encrypted to a key only this
	// process has, until the retrieval is on record.
	spool, err := archive.NewSpool(out)
	if err != nil {
		return nil, 0, fmt.Errorf("retrieve: %w", err)
	}
	defer spool.Close()
	// Every run holds all of STAR1: the newest, whichever batch wrote it,
	// holds the person as STAR1 last did; the other batches' runs are
	// earlier states of STAR1, not more records.
	r := archive.NewReader(st, pub, ids, ik...)
	r.Spool = spool
	r.LeaveOutUnreadable = o.skipUnreadable
	newest, _, err := archive.NewestCatalog(ctx, st, pub, o.batch)
	var cats []*archive.Catalog
	var found []*archive.Found
	if err == nil {
		cats = append(cats, newest)
		found, err = r.Retrieve(ctx, cats, q)
	}
	newestErr := err
	if err != nil {
		// The newest run, when the error was met reading it: with
		// --skip-unreadable it is listed, and the search goes on to
		// earlier runs.
		var left *archive.Found
		var re *archive.RunError
		switch {
		case newest != nil:
			left = &archive.Found{Batch: newest.Batch, Run: newest.Run, Unread: err.Error()}
		case errors.As(err, &re):
			left = &archive.Found{Batch: re.Batch, Run: re.Run, Unread: re.Err.Error()}
		}
		switch {
		case left == nil || !archive.Unreadable(err) || ctx.Err() != nil:
			return nil, 0, err
		case !o.skipUnreadable:
			return nil, 0, fmt.Errorf("%w; --skip-unreadable leaves out what cannot be read as written and searches the earlier runs", err)
		}
		found = []*archive.Found{left}
	}
	found, earlier, err := r.RetrieveEarlier(ctx, found, q, archive.LookBack{All: o.allRuns, EveryBatch: o.batch == "", SkipUnreadable: o.skipUnreadable})
	if err != nil {
		return nil, 0, err
	}
	cats = append(cats, earlier...)
	res := &archive.RetrievalResult{Query: q.String(), Reason: o.reason, Operator: operatorName(o.operator), Time: now.UTC()}
	rows := 0
	var unread []string
	inPart := false // a run was read, without some of its parts
	for _, f := range found {
		rows += f.Rows()
		inPart = inPart || len(f.UnreadParts) > 0
		if f.Newest != "" && f.Rows() > 0 {
			res.Earlier = true
		}
		switch {
		case len(f.UnreadParts) > 0:
			unread = append(unread, fmt.Sprintf("%s/%s in part, without %s", f.Batch, f.Run, strings.Join(f.UnreadParts, ", ")))
		case f.Unread != "":
			unread = append(unread, f.Batch+"/"+f.Run)
		}
		res.Runs = append(res.Runs, archive.RowsOf(f))
	}
	// Only when no run could be read at all is there nothing to put on
	// record; a run read in part was searched, and the record is not in
	// the parts of it that could be read. The newest run is then one
	// that could not be read, and newestErr says why.
	if len(unread) == len(found) && rows == 0 && !inPart {
		return nil, 0, fmt.Errorf("retrieve: no archive run searched could be read as written (%s); the newest: %w", strings.Join(unread, ", "), newestErr)
	}
	res.Found = rows > 0
	res.Unread = len(unread)
	query := res.Query
	if len(unread) > 0 {
		// The runs left out are named: a run whose catalog was read may
		// have given blocks before the one that could not be read.
		query += fmt.Sprintf(", leaving out %s it could not read: %s", words.Count(len(unread), "run"), strings.Join(unread, ", "))
	}
	res.Audit, err = putOnRecord(ctx, st, cats, archive.AuditEntry{
		Time: res.Time, Operator: res.Operator, Action: "retrieve",
		Query: query, Reason: o.reason, Found: res.Found, Rows: rows,
	})
	if err != nil {
		return nil, 0, err
	}
	res.Out = out
	if err := writeRetrieval(out, res, found); err != nil {
		return nil, 0, err
	}
	done = true
	return res, r.BytesRead(), nil
}
