package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// TestAuditEntriesByDay: entries are chosen by the time in their key,
// since inclusive and until exclusive, oldest first, each with its key.
func TestAuditEntriesByDay(t *testing.T) {
	ctx := context.Background()
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKeys(t)
	day := func(s string) time.Time {
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Written out of order, as archivists in two places might.
	for _, at := range []string{"2026-11-03T08:00:00Z", "2026-11-01T23:59:59Z", "2026-11-02T00:00:00Z", "2026-11-02T12:30:00Z"} {
		if _, err := WriteAudit(ctx, st, k.recipients, AuditEntry{Time: day(at), Operator: "mari", Action: "retrieve", Query: at, Reason: "test"}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		since, until string
		want         []string
	}{
		{"", "", []string{"2026-11-01T23:59:59Z", "2026-11-02T00:00:00Z", "2026-11-02T12:30:00Z", "2026-11-03T08:00:00Z"}},
		{"2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z", []string{"2026-11-02T00:00:00Z", "2026-11-02T12:30:00Z"}},
		{"2026-11-03T00:00:00Z", "", []string{"2026-11-03T08:00:00Z"}},
		{"", "2026-11-02T00:00:00Z", []string{"2026-11-01T23:59:59Z"}},
	} {
		var since, until time.Time
		if c.since != "" {
			since = day(c.since)
		}
		if c.until != "" {
			until = day(c.until)
		}
		got, err := ReadAuditBetween(ctx, st, k.identities, since, until)
		if err != nil {
			t.Fatal(err)
		}
		var queries []string
		for _, e := range got {
			queries = append(queries, e.Query)
			if at, ok := auditTime(e.Key); !ok || !at.Equal(e.Time) {
				t.Errorf("entry %s: key time %v, entry time %v", e.Key, at, e.Time)
			}
		}
		if fmt.Sprint(queries) != fmt.Sprint(c.want) {
			t.Errorf("since %q until %q: %v, want %v", c.since, c.until, queries, c.want)
		}
	}
}

// TestUnreadableAuditEntriesAreListed: an object under audit/ that is not
// an entry the identity can read (damaged, encrypted to another key, not
// an entry at all) is listed with why among the entries, rather than
// hiding the whole log; ReadAudit, which wants every entry, refuses.
func TestUnreadableAuditEntriesAreListed(t *testing.T) {
	ctx := context.Background()
	st, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, other := testKeys(t), testKeys(t)
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for i, recipients := range [][]age.Recipient{k.recipients, other.recipients, k.recipients} {
		e := AuditEntry{Time: at.Add(time.Duration(i) * time.Hour), Operator: "mari", Action: "retrieve", Query: fmt.Sprint(i), Reason: "test"}
		if _, err := WriteAudit(ctx, st, recipients, e, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	encrypted := func(plain string) []byte {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, k.recipients...)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, plain)
		w.Close()
		return buf.Bytes()
	}
	for name, body := range map[string][]byte{
		"20261102T103000.000000000Z-aaaaaaaaaaaa.json.age": []byte("not age at all"),
		"20261102T113000.000000000Z-aaaaaaaaaaaa.json.age": encrypted(`{"rows":3}`),
		"20261102T123000.000000000Z-aaaaaaaaaaaa.json.age": encrypted(`[1,2]`),
		"20261102T133000.000000000Z-aaaaaaaaaaaa.json.age": make([]byte, 1<<20+1),
	} {
		if err := st.Put(ctx, AuditPrefix+"2026/"+name, bytes.NewReader(body), int64(len(body)), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadAuditBetween(ctx, st, k.identities, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Unreadable != "" {
			got = append(got, "unreadable: "+r.Unreadable)
		} else {
			got = append(got, r.Query)
		}
	}
	want := []string{"0", "unreadable: encrypted to no identity given", "2",
		"unreadable: not an age file", "unreadable: decrypts, but is not an audit entry: it has no time", "unreadable: decrypts, but is not an audit entry: json",
		"unreadable: 1048577 bytes, larger than any audit entry"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("entry %d: %q, want %q…", i, got[i], want[i])
		}
	}
	if _, err := ReadAudit(ctx, st, k.identities); err == nil || !strings.Contains(err.Error(), "audit/2026/20261102T090000") {
		t.Errorf("ReadAudit: %v, want the first unreadable entry named", err)
	}
}
