package archive

import (
	"context"
	"fmt"
	"testing"
	"time"
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
