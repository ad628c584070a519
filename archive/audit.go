package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/starmig/starmig/internal/parallel"
)

// AuditEntry is one retrieval on record: who, when, what and why, and
// what was found. It is stored as its own object under audit/, encrypted
// to the archive's recipients (what an archivist asked for is personal
// data; the operators abroad see that entries exist, never what they say),
// and on S3 locked like the bundles, so the retriever cannot rewrite it.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	OSUser   string    `json:"os_user"`
	Host     string    `json:"host,omitempty"`
	Action   string    `json:"action"` // retrieve, restore, verify (a key holder's)
	Query    string    `json:"query"`
	Reason   string    `json:"reason"`
	Runs     []string  `json:"runs"`  // batch/run read
	Found    bool      `json:"found"` // whether the archive held anything
	Rows     int       `json:"rows"`
}

// WriteAudit stores one audit entry. It is written before the result is
// handed out: a retrieval that cannot be put on record does not happen.
func WriteAudit(ctx context.Context, st Store, recipients []age.Recipient, e AuditEntry, retainUntil time.Time) (string, error) {
	if strings.TrimSpace(e.Reason) == "" {
		return "", fmt.Errorf("archive: a reason is required")
	}
	body, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return "", fmt.Errorf("archive: audit: %w", err)
	}
	enc.Write(body)
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("archive: audit: %w", err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	key := fmt.Sprintf("%s%s/%s-%s.json.age", AuditPrefix, e.Time.UTC().Format("2006"), e.Time.UTC().Format("20060102T150405.000000000Z"), hex.EncodeToString(suffix))
	if err := st.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()), retainUntil); err != nil {
		return "", fmt.Errorf("archive: audit entry not written, so nothing is retrieved: %w", err)
	}
	return key, nil
}

// ReadAudit reads every audit entry, oldest first, with an identity. An
// entry that cannot be read is an error (ReadAuditBetween lists it).
func ReadAudit(ctx context.Context, st Store, ids []age.Identity) ([]AuditEntry, error) {
	recs, err := ReadAuditBetween(ctx, st, ids, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, len(recs))
	for i, r := range recs {
		if r.Unreadable != "" {
			return nil, fmt.Errorf("archive: audit entry %s: %s", r.Key, r.Unreadable)
		}
		out[i] = r.AuditEntry
	}
	return out, nil
}

// AuditRecord is an audit entry with the key of the object that holds it.
type AuditRecord struct {
	Key string `json:"key"`
	// Unreadable says why the object could not be read as an audit entry
	// (encrypted to no identity given, damaged, not an entry at all); its
	// AuditEntry is then empty.
	Unreadable string `json:"unreadable,omitempty"`
	AuditEntry
}

// ReadAuditBetween reads the audit entries written from since (inclusive)
// until until (exclusive), oldest first; a zero time is no bound. Entries
// are chosen by the time in their key, so that only those are fetched,
// 16 at a time: on a long link abroad the round trips, not the bytes,
// decide how long this takes.
//
// An object that cannot be decrypted or parsed is listed with the reason
// (Unreadable) among the others rather than stopping the read: one damaged
// or foreign object under audit/ must not hide the rest of the log. Only
// a failure of the store itself is an error.
func ReadAuditBetween(ctx context.Context, st Store, ids []age.Identity, since, until time.Time) ([]AuditRecord, error) {
	const maxEntry = 1 << 20 // an entry is a few hundred bytes
	var keys []string
	size := map[string]int64{}
	if err := st.Keys(ctx, AuditPrefix, func(key string, n int64) error {
		// A key not of the audit log's form is read all the same:
		// nothing on record is left out unseen.
		if at, ok := auditTime(key); ok && (!since.IsZero() && at.Before(since) || !until.IsZero() && !at.Before(until)) {
			return nil
		}
		keys = append(keys, key)
		size[key] = n
		return nil
	}); err != nil {
		return nil, err
	}
	slices.Sort(keys)
	out := make([]AuditRecord, len(keys))
	err := parallel.Do(len(keys), 16, func(i int) error {
		k := keys[i]
		out[i].Key = k
		if size[k] > maxEntry {
			out[i].Unreadable = fmt.Sprintf("%d bytes, larger than any audit entry: not read", size[k])
			return nil
		}
		b, err := readAll(ctx, st, k, maxEntry)
		if err != nil {
			return err
		}
		if err := decodeAudit(b, ids, &out[i].AuditEntry); errors.As(err, new(*KeyError)) {
			return err
		} else if err != nil {
			out[i].AuditEntry = AuditEntry{}
			out[i].Unreadable = err.Error()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeAudit decrypts and parses one audit entry.
func decodeAudit(b []byte, ids []age.Identity, e *AuditEntry) error {
	d, err := age.Decrypt(bytes.NewReader(b), ids...)
	if errors.As(err, new(*KeyError)) {
		return err
	}
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return fmt.Errorf("encrypted to no identity given (an entry written before the recipients changed needs the identity of that time): %w", err)
		}
		return fmt.Errorf("not an age file the identity can decrypt: %w", err)
	}
	plain, err := io.ReadAll(d)
	if err != nil {
		return fmt.Errorf("damaged: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	if err := dec.Decode(e); err != nil {
		return fmt.Errorf("decrypts, but is not an audit entry: %v", err)
	}
	if dec.More() || e.Time.IsZero() || e.Action == "" {
		return fmt.Errorf("decrypts, but is not an audit entry: it has no time or action, or more than one entry")
	}
	return nil
}

// auditTime is the time in an audit entry's key (WriteAudit).
func auditTime(key string) (time.Time, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	stamp, _, ok := strings.Cut(name, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T150405.000000000Z", stamp)
	return t, err == nil
}

// AuditRetention is the date until which an audit entry about reading
// the runs of cats is locked: as long as the longest kept of them, by
// their catalogs' dates and, on a store that locks, by the locks their
// catalogs hold now, which `starmig retain` may have lengthened since.
// Once all of those have passed, a run may still be there and read (its
// locks ended, nobody deleted it): the entry is then locked for as long
// as the runs were written for (their retention, counted from now), since
// a store that locks refuses a date in the past and the read would not
// be on record at all.
func AuditRetention(ctx context.Context, st Store, cats []*Catalog, now time.Time) (time.Time, error) {
	var until time.Time
	var period time.Duration
	for _, c := range cats {
		if c.RetainUntil.After(until) {
			until = c.RetainUntil
		}
		period = max(period, c.RetainUntil.Sub(c.Created))
	}
	if st.Locks() {
		// A round trip each, over a long link: several at once.
		locks := make([]time.Time, len(cats))
		if err := parallel.Do(len(cats), 16, func(i int) error {
			info, err := st.Stat(ctx, RunPrefix(cats[i].Batch, cats[i].Run)+CatalogFile)
			if err != nil {
				return fmt.Errorf("archive: the lock of %s/%s: %w", cats[i].Batch, cats[i].Run, err)
			}
			locks[i] = info.RetainUntil
			return nil
		}); err != nil {
			return time.Time{}, err
		}
		for _, l := range locks {
			if l.After(until) {
				until = l
			}
		}
	}
	if until.After(now) {
		return until, nil
	}
	if period <= 0 {
		period = 10 * 365 * 24 * time.Hour
	}
	return now.Add(period), nil
}

// CatalogRecipients are the recipients a catalog names, to encrypt audit
// entries to.
func CatalogRecipients(cats []*Catalog) ([]age.Recipient, error) {
	var out []age.Recipient
	seen := map[string]bool{}
	for _, c := range cats {
		for _, s := range c.Recipients {
			if seen[s] {
				continue
			}
			seen[s] = true
			r, err := ParseRecipient(s)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("archive: the catalog names no recipient to encrypt the audit entry to")
	}
	out = SameKindRecipients(out)
	return out, nil
}
