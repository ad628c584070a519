package archive

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestLengthenLocksOnMinIO: every object of an archive run, and an audit
// entry, locked until the archive's date is locked longer by Lengthen,
// its first version, as COMPLIANCE mode allows; run again, or with an
// earlier date, it changes nothing, since a lock is never shortened. An
// object someone locked in GOVERNANCE mode, which MinIO refuses to change
// to COMPLIANCE ("Object is WORM protected"), is left as it is and named,
// not taken for a failure that stops the rest. A folder store, which
// cannot lock, is refused.
func TestLengthenLocksOnMinIO(t *testing.T) {
	path := star1(t, 60)
	k := testKeys(t)
	st, client := bucket(t, true)
	ctx := context.Background()
	archiveSTAR1(t, path, small(config(st, k)))
	if _, err := WriteAudit(ctx, st, k.recipients, AuditEntry{Time: now, Operator: "test", Action: "retrieve", Query: "person 1", Reason: "retain test"}, retain); err != nil {
		t.Fatal(err)
	}
	foreign := BatchesPrefix + "all/foreign"
	if _, err := client.PutObject(ctx, st.cfg.Bucket, st.full(foreign), strings.NewReader("x"), 1, minio.PutObjectOptions{
		Mode: minio.Governance, RetainUntilDate: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
	locks := func() (n int, until map[time.Time]int) {
		t.Helper()
		until = map[time.Time]int{}
		if err := st.List(ctx, "", func(o ObjectInfo) error {
			if o.Key == foreign {
				return nil
			}
			n++
			if o.Mode != "COMPLIANCE" || o.Versions != 1 {
				t.Errorf("%s: mode %q, %d versions", o.Key, o.Mode, o.Versions)
			}
			until[o.RetainUntil]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n, until
	}
	n, before := locks()
	if before[retain] != n || n < 20 {
		t.Fatalf("%d objects locked until %v before", n, before)
	}

	later := retain.AddDate(15, 0, 0)
	var seen int
	res, err := Lengthen(ctx, st, ArchivePrefixes, later, func(done, total int) { seen = max(seen, done) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != n+1 || res.Lengthened != n || res.Later != 0 || !res.Until.Equal(later) || seen != n || !slices.Equal(res.Governance, []string{foreign}) {
		t.Errorf("Lengthen: %+v, progress to %d; want all %d objects lengthened until %v, and %s left", res, seen, n, later, foreign)
	}
	if info, err := st.Stat(ctx, foreign); err != nil || info.Mode != "GOVERNANCE" {
		t.Errorf("%s: %+v, %v; want it left in GOVERNANCE mode", foreign, info, err)
	}
	if _, after := locks(); after[later] != n {
		t.Errorf("locks after Lengthen: %v, want all %d until %v", after, n, later)
	}

	for _, until := range []time.Time{later, retain} {
		res, err := Lengthen(ctx, st, ArchivePrefixes, until, nil)
		if err != nil || res.Lengthened != 0 || res.Later != n || len(res.Governance) != 1 {
			t.Errorf("Lengthen until %v again: %+v, %v; want nothing lengthened", until, res, err)
		}
	}
	if _, after := locks(); after[later] != n {
		t.Errorf("locks after Lengthen to an earlier date: %v, want all %d still until %v", after, n, later)
	}

	folder, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lengthen(ctx, folder, ArchivePrefixes, later, nil); !errors.Is(err, ErrCannotLock) {
		t.Errorf("Lengthen on a folder: %v, want ErrCannotLock", err)
	}
}

// TestAuditRetention: an audit entry about reading runs is locked as long
// as the longest kept of them. That was their catalogs' date, so once it
// had passed, every retrieval, restore and key holder's check of the
// archive on S3 failed at its audit entry ("the retain until date must be
// in the future"), and after `retain` the entries were locked for less
// than the runs. The date is now the later of the catalogs' and of the
// locks their catalogs hold, and, once both have passed, the runs'
// retention counted from now.
func TestAuditRetention(t *testing.T) {
	path := star1(t, 30)
	k := testKeys(t)
	st, _ := bucket(t, true)
	folder, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []Store{st, folder} {
		archiveSTAR1(t, path, small(config(s, k)))
	}
	cats, err := LatestCatalogs(ctx, st, k.pub, "")
	if err != nil || len(cats) != 1 {
		t.Fatalf("%d catalogs: %v", len(cats), err)
	}
	period := cats[0].RetainUntil.Sub(cats[0].Created)
	later := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	lengthened := time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC)
	check := func(what string, s Store, at, want time.Time) {
		t.Helper()
		got, err := AuditRetention(ctx, s, cats, at)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", what, got, err, want)
		}
	}
	check("before the catalog's date", st, now, retain)
	check("after the catalog's date", st, later, later.Add(period))
	check("a folder after the catalog's date", folder, later, later.Add(period))
	if _, err := Lengthen(ctx, st, ArchivePrefixes, lengthened, nil); err != nil {
		t.Fatal(err)
	}
	check("after retain", st, later, lengthened)
	check("after retain, before the catalog's date", st, now, lengthened)
	if _, err := WriteAudit(ctx, st, k.recipients, AuditEntry{Time: time.Now(), Operator: "test", Action: "retrieve", Query: "person 1", Reason: "audit retention"}, lengthened); err != nil {
		t.Errorf("an audit entry locked until the lengthened date: %v", err)
	}
}
