package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/testenv"
)

// TestRetainLengthensTheLocks: an archive written with a short retention
// is noted by verify as its locks near their end, and retain locks every
// object of the archive until a later date, after which verify notes
// nothing; an object the bucket holds beside the archive's folders is
// left unlocked. An object someone locked in GOVERNANCE mode is left and
// named (exit 4). retain is refused, before anything is asked of the
// storage, without a date, for a date that is past, and for a folder
// store, which cannot lock.
func TestRetainLengthensTheLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := genKeys(t, dir)
	to := s3Bucket(t, true)
	soon := time.Now().AddDate(0, 0, 40).Format(time.DateOnly)
	if code, _, stderr := run(t, ctx, "archive", "--source", "sqlite:../../testdata/star1-small.db", "--to", to, "--batch", "all", "--keys", keys, "--retain-until", soon, "-q"); code != 0 {
		t.Fatalf("archive: exit %d: %s", code, stderr)
	}
	s3 := testenv.MinIO(t)
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bucket := strings.SplitN(to, "/", 4)[2] // s3://BUCKET/star1
	if _, err := client.PutObject(ctx, bucket, "star1/notes/readme.txt", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (notes []string) {
		t.Helper()
		code, out, stderr := run(t, ctx, append([]string{"verify", "--archive", to, "--keys", keys, "--json"}, args...)...)
		var rep struct {
			Notes       []string
			LocksEnding []struct{ Ends time.Time } `json:"locks_ending"`
		}
		if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
			t.Fatalf("verify: exit %d, %v: %s%s", code, err, out, stderr)
		}
		if len(rep.LocksEnding) > 0 && rep.LocksEnding[0].Ends.Format(time.DateOnly) != soon {
			t.Errorf("verify --json: locks_ending %+v, want %s", rep.LocksEnding, soon)
		}
		if len(rep.LocksEnding) != len(notesOf(rep.Notes)) {
			t.Errorf("verify --json: locks_ending %+v beside the notes %q", rep.LocksEnding, rep.Notes)
		}
		return notesOf(rep.Notes)
	}
	if notes := verify(); len(notes) != 1 || !strings.Contains(notes[0], "its locks end on "+soon+", in ") || !strings.Contains(notes[0], "starmig retain") {
		t.Errorf("verify of locks ending in 40 days: %q", notes)
	}
	if notes := verify("--locks-ending", "30d"); len(notes) != 0 {
		t.Errorf("verify --locks-ending 30d of locks ending in 40 days: %q", notes)
	}

	code, out, stderr := run(t, ctx, "retain", "--archive", to, "--retention", "30y", "--json")
	var res struct {
		Objects, Lengthened, Later int
		Until                      time.Time
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Objects < 20 || res.Lengthened != res.Objects || res.Later != 0 {
		t.Fatalf("retain: exit %d, %v, %+v: %s%s", code, err, res, out, stderr)
	}
	if notes := verify(); len(notes) != 0 {
		t.Errorf("verify after retain: %q", notes)
	}
	// What the bucket holds beside the archive's folders is not locked.
	if mode, _, err := client.GetObjectRetention(ctx, bucket, "star1/notes/readme.txt", ""); err == nil && mode != nil {
		t.Errorf("retain locked an object outside batches/ and audit/: %s", *mode)
	}
	if on := time.Now().UTC().AddDate(30, 0, 0); res.Until.Format("15:04:05Z07:00") != "00:00:00Z" || on.Sub(res.Until) < 0 || on.Sub(res.Until) > 48*time.Hour {
		t.Errorf("retain --retention 30y locked until %v, want the day 30 years on, %v", res.Until, on)
	}
	code, out, stderr = run(t, ctx, "retain", "--archive", to, "--retain-until", res.Until.Format(time.DateOnly))
	if code != 0 || !strings.Contains(out, "0 objects of "+strings.TrimSuffix(to, "/")) || !strings.Contains(out, "already locked until then or later") {
		t.Errorf("retain again: exit %d: %s%s", code, out, stderr)
	}

	// An object someone locked in GOVERNANCE mode is left and named.
	if _, err := client.PutObject(ctx, bucket, "star1/batches/all/foreign", strings.NewReader("x"), 1, minio.PutObjectOptions{
		Mode: minio.Governance, RetainUntilDate: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, ctx, "retain", "--archive", to, "--retention", "31y", "-q")
	if code != exitVerification || !strings.Contains(stderr, "1 object in GOVERNANCE mode left as it is") || !strings.Contains(stderr, ": batches/all/foreign") {
		t.Errorf("retain with an object in GOVERNANCE mode: exit %d: %s", code, stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--archive", to}, "--retain-until or --retention is required"},
		{[]string{"--archive", to, "--retain-until", "2020-01-01"}, "--retain-until 2020-01-01 is not in the future"},
		{[]string{"--archive", "file://" + filepath.Join(dir, "folder"), "--retention", "30y"}, "a folder store cannot lock its objects"},
	} {
		if code, _, stderr := run(t, ctx, append([]string{"retain"}, c.args...)...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("retain %q: exit %d, %s; want exit %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// notesOf are the notes of locks ending among notes.
func notesOf(notes []string) []string {
	var out []string
	for _, n := range notes {
		if strings.Contains(n, "its locks") {
			out = append(out, n)
		}
	}
	return out
}
