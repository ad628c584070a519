package archive

import (
	"context"
	"testing"
	"time"

	"github.com/starmig/starmig/internal/testenv"
)

// TestLinkDownIsNotDamage cuts the link to the storage in the middle of a
// retrieval that searches every earlier run and of a restore, both told to
// leave out what they cannot read. Neither may take the cut for damage and
// answer from what it read: both stop with an error of the storage, and
// the restore leaves no schema.
func TestLinkDownIsNotDamage(t *testing.T) {
	st, _ := bucket(t, true)
	k := testKeys(t)
	path := star1(t, 300)
	first := small(config(st, k))
	archiveSTAR1(t, path, first)
	second := first
	second.Now, second.RetainUntil = now.Add(24*time.Hour), retain.Add(24*time.Hour)
	archiveSTAR1(t, path, second)
	code := richPerson(t, path)
	s3 := testenv.MinIO(t)
	ctx := context.Background()
	through := func(c *testenv.Cut) *Reader {
		far, err := NewS3Store(S3Config{Endpoint: c.Addr, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: st.cfg.Bucket, Prefix: "star1"})
		if err != nil {
			t.Fatal(err)
		}
		return NewReader(far, k.pub, k.identities, k.index)
	}

	retrieve := func(r *Reader) ([]*Found, error) {
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			return nil, err
		}
		found, err := r.Retrieve(ctx, cats, PersonByCode(code))
		if err != nil {
			return nil, err
		}
		found, _, err = r.RetrieveEarlier(ctx, found, PersonByCode(code), LookBack{All: true, SkipUnreadable: true})
		return found, err
	}
	whole := testenv.CutAfter(t, s3.Endpoint, -1)
	found, err := retrieve(through(whole))
	if err != nil || len(found) != 2 || found[0].Rows() == 0 || found[0].Rows() != found[1].Rows() {
		t.Fatalf("retrieval through the whole link: %v, %v", found, err)
	}
	for i := int64(1); i < 8; i++ {
		cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()*i/8)
		found, err := retrieve(through(cut))
		if err == nil || !StorageFault(err) {
			var unread []string
			for _, f := range found {
				unread = append(unread, f.Unread)
			}
			t.Errorf("retrieval, link down after %d of %d bytes: %v (unread %q); want an error of the storage", cut.Bytes(), whole.Bytes(), err, unread)
		}
	}

	dsn := testenv.Postgres(t)
	conn := testenv.Connect(t, dsn)
	restore := func(r *Reader, schema string) error {
		cats, err := LatestCatalogs(ctx, r.store, k.pub, "all")
		if err != nil {
			return err
		}
		_, err = r.Restore(ctx, conn, cats[0], RestoreOptions{Schema: schema, SkipUnreadable: true})
		return err
	}
	whole = testenv.CutAfter(t, s3.Endpoint, -1)
	if err := restore(through(whole), "whole"); err != nil {
		t.Fatalf("restore through the whole link: %v", err)
	}
	for i := int64(1); i < 4; i++ {
		cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()*i/4)
		schema := "cut" + string(rune('0'+i))
		err := restore(through(cut), schema)
		if err == nil || !StorageFault(err) {
			t.Errorf("restore, link down after %d of %d bytes: %v; want an error of the storage", cut.Bytes(), whole.Bytes(), err)
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
			t.Errorf("the restore cut off left schema %s (%v)", schema, err)
		}
	}
}
