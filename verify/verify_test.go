package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/archive"
	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/testenv"
	"github.com/starmig/starmig/mapping"
)

var (
	now    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	retain = time.Date(2036, 11, 21, 0, 0, 0, 0, time.UTC)
	star1  = "../testdata/star1-small.db"
)

type keys struct {
	recipients []age.Recipient
	identities []age.Identity
	sign       ed25519.PrivateKey
	pub        archive.SigningKeys
	index      []byte
}

func newKeys(t testing.TB) keys {
	dir := t.TempDir()
	if err := archive.GenerateKeys(dir); err != nil {
		t.Fatal(err)
	}
	var k keys
	k.recipients, _ = archive.ReadRecipients(filepath.Join(dir, archive.RecipientFile))
	k.identities, _ = archive.ReadIdentities(filepath.Join(dir, archive.IdentityFile), nil)
	k.sign, _ = archive.ReadSigningKey(filepath.Join(dir, archive.SignKeyFile))
	k.pub, _ = archive.ReadSigningPub(filepath.Join(dir, archive.SignPubFile))
	k.index, _ = archive.ReadIndexKey(filepath.Join(dir, archive.IndexKeyFile))
	return k
}

func config(st archive.Store, k keys) archive.Config {
	return archive.Config{Store: st, Batch: "all", Recipients: k.recipients, SignKey: k.sign, IndexKey: k.index,
		RetainUntil: retain, Now: now, BundleSize: 256 << 10, PartSize: 64 << 10, BlockSize: 16 << 10}
}

func write(t testing.TB, cfg archive.Config) {
	t.Helper()
	if err := writeRun(cfg); err != nil {
		t.Fatal(err)
	}
}

// writeRun archives the test STAR1 in one run, aborting it on an error.
func writeRun(cfg archive.Config) error {
	ctx := context.Background()
	src, err := extract.Open(ctx, "sqlite:"+star1)
	if err != nil {
		return err
	}
	defer src.Close()
	snap, err := src.Begin(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	w, err := archive.NewWriter(ctx, cfg)
	if err != nil {
		return err
	}
	if err := archive.WriteAll(ctx, snap, w, nil); err != nil {
		w.Abort(err)
		return err
	}
	_, err = w.Close()
	return err
}

// folderArchive writes an archive into a folder once per test binary and
// copies it for each test, writable, so tests can break it.
var master string

func folderArchive(t testing.TB, k *keys) (string, *archive.FileStore) {
	t.Helper()
	if master == "" {
		*k = newKeys(t)
		dir, err := os.MkdirTemp("", "verify-master-")
		if err != nil {
			t.Fatal(err)
		}
		st, _ := archive.NewFileStore(dir)
		write(t, config(st, *k))
		master = dir
		masterKeys = *k
	}
	*k = masterKeys
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", master+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	exec.Command("chmod", "-R", "u+w", dir).Run()
	st, _ := archive.NewFileStore(dir)
	return dir, st
}

var masterKeys keys

func TestMain(m *testing.M) {
	code := m.Run()
	if master != "" {
		exec.Command("chmod", "-R", "u+w", master).Run()
		os.RemoveAll(master)
	}
	os.Exit(code)
}

func check(t *testing.T, st archive.Store, k keys, level string, edit func(*Options)) *Report {
	t.Helper()
	o := Options{Store: st, Pub: k.pub, Level: level, Percent: 100, Seed: 1}
	if edit != nil {
		edit(&o)
	}
	rep, err := Verify(context.Background(), o)
	if err != nil {
		t.Fatalf("verify %s: %v", level, err)
	}
	return rep
}

// expect checks that a level finds a problem naming the object, or, when
// want is empty, finds nothing.
func expect(t *testing.T, rep *Report, object, want string) {
	t.Helper()
	if want == "" {
		if !rep.OK() {
			t.Errorf("%s: unexpected findings: %v", rep.Level, rep.Findings)
		}
		return
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.String(), object) && strings.Contains(f.Problem, want) {
			return
		}
	}
	t.Errorf("%s: no finding %q naming %s; findings: %v", rep.Level, want, object, rep.Findings)
}

func bundleDir(t *testing.T, dir string, n int) (string, string) {
	runs, _ := filepath.Glob(filepath.Join(dir, "batches", "all", "*"))
	if len(runs) != 1 {
		t.Fatalf("runs: %v", runs)
	}
	b := filepath.Join(runs[0], []string{"", "0001", "0002", "0003"}[n])
	rel, _ := filepath.Rel(dir, b)
	return b, filepath.ToSlash(rel) + "/"
}

func firstPayload(t *testing.T, bdir string) (string, string) {
	files, _ := filepath.Glob(filepath.Join(bdir, "data", "ISIK", "*.age"))
	if len(files) == 0 {
		t.Fatal("no ISIK payload")
	}
	return files[0], "data/ISIK/" + filepath.Base(files[0])
}

func TestCleanArchivePassesEveryLevel(t *testing.T) {
	var k keys
	_, st := folderArchive(t, &k)
	for _, level := range []string{List, Sample, Full} {
		rep := check(t, st, k, level, nil)
		expect(t, rep, "", "")
		if level != List && rep.Hashed == 0 {
			t.Errorf("%s hashed nothing", level)
		}
		if rep.Locks || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "cannot lock") {
			t.Errorf("a folder store must say it cannot lock: %v", rep.Notes)
		}
	}
	rep := check(t, st, k, Full, func(o *Options) { o.Identities = k.identities })
	expect(t, rep, "", "")
}

func TestFaultsInAFolder(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string) string // returns the object to be named
		levels map[string]string                     // level → problem ("" = not seen there)
	}{
		{"flipped byte", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 1)
			p, rel := firstPayload(t, b)
			body, _ := os.ReadFile(p)
			body[len(body)/2] ^= 0x40
			os.WriteFile(p, body, 0o644)
			return prefix + rel
		}, map[string]string{List: "", Sample: "does not match the manifest", Full: "does not match the manifest"}},
		{"truncated object", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 1)
			p, rel := firstPayload(t, b)
			os.Truncate(p, 100)
			return prefix + rel
		}, map[string]string{List: "size 100", Sample: "size 100", Full: "size 100"}},
		{"missing object", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 2)
			os.Remove(filepath.Join(b, "bag-info.txt"))
			return prefix + "bag-info.txt"
		}, map[string]string{List: "missing", Sample: "missing", Full: "missing"}},
		{"missing bundle", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 2)
			os.RemoveAll(b)
			return prefix
		}, map[string]string{List: "bundle missing", Sample: "bundle missing", Full: "bundle missing"}},
		{"extra unsigned bundle", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 1)
			exec.Command("cp", "-a", b, filepath.Join(filepath.Dir(b), "0099")).Run()
			return strings.Replace(prefix, "0001", "0099", 1)
		}, map[string]string{List: "not in any signed catalog", Sample: "not in any signed catalog", Full: "not in any signed catalog"}},
		{"tag manifest not matching its signature", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 1)
			p := filepath.Join(b, archive.TagManifest512)
			body, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(body, []byte("bagit.txt"), []byte("bagit.txx"), 1), 0o644)
			return prefix + archive.TagSignature
		}, map[string]string{List: "signature does not verify", Sample: "signature does not verify", Full: "signature does not verify"}},
		{"signature made with another key", func(t *testing.T, dir string) string {
			b, prefix := bundleDir(t, dir, 1)
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			body, _ := os.ReadFile(filepath.Join(b, archive.TagManifest512))
			os.WriteFile(filepath.Join(b, archive.TagSignature), ed25519.Sign(other, body), 0o644)
			return prefix + archive.TagSignature
		}, map[string]string{List: "signature does not verify", Sample: "signature does not verify", Full: "signature does not verify"}},
		{"tag file value of control characters", func(t *testing.T, dir string) string {
			// What a finding quotes of the archive is shown, not obeyed,
			// by the operator's terminal.
			b, prefix := bundleDir(t, dir, 1)
			p := filepath.Join(b, archive.BagInfoTxt)
			body, _ := os.ReadFile(p)
			body = regexp.MustCompile(`Payload-Oxum: [0-9.]+`).ReplaceAll(body, []byte("Payload-Oxum: 1.1\x1b[2J\xb1"))
			os.WriteFile(p, body, 0o644)
			return prefix + archive.BagInfoTxt
		}, map[string]string{Full: `BagIt: Payload-Oxum 1.1\x1b[2J\xb1, the payload is `}},
		{"catalog signed with another key", func(t *testing.T, dir string) string {
			b, _ := bundleDir(t, dir, 1)
			cat := filepath.Join(filepath.Dir(b), archive.CatalogFile)
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			body, _ := os.ReadFile(cat)
			os.WriteFile(cat+".sig", ed25519.Sign(other, body), 0o644)
			rel, _ := filepath.Rel(dir, cat)
			return filepath.ToSlash(rel)
		}, map[string]string{List: "catalog does not verify", Sample: "catalog does not verify", Full: "catalog does not verify"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var k keys
			dir, st := folderArchive(t, &k)
			object := c.break_(t, dir)
			for level, want := range c.levels {
				expect(t, check(t, st, k, level, nil), object, want)
			}
		})
	}
}

// TestBagInfoFindingsSayWhatIsWrong: a bag-info.txt that is not
// "Label: value" lines is one finding saying so, not one for every label
// it then seems to lack; a Payload-Oxum given twice, or none, is named as
// that.
func TestBagInfoFindingsSayWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		name, want, not string
		edit            func([]byte) []byte
	}{
		{"not label lines", `not a BagIt tag file: line 2: want "Label: value"`, "no Bagging-Date",
			func(b []byte) []byte { return append([]byte("Source-Organization: x\nno colon here\n"), b...) }},
		{"Payload-Oxum twice", "Payload-Oxum given 2 times (1.1, ", "[",
			func(b []byte) []byte { return append([]byte("Payload-Oxum: 1.1\n"), b...) }},
		{"no Payload-Oxum", "no Payload-Oxum", "the payload is",
			func(b []byte) []byte { return regexp.MustCompile(`(?m)^Payload-Oxum: .*\n`).ReplaceAll(b, nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var k keys
			dir, st := folderArchive(t, &k)
			b, prefix := bundleDir(t, dir, 1)
			p := filepath.Join(b, archive.BagInfoTxt)
			body, _ := os.ReadFile(p)
			os.Chmod(p, 0o644)
			if err := os.WriteFile(p, c.edit(body), 0o644); err != nil {
				t.Fatal(err)
			}
			rep := check(t, st, k, Full, nil)
			expect(t, rep, prefix+archive.BagInfoTxt, c.want)
			for _, f := range rep.Findings {
				if strings.Contains(f.Object, archive.BagInfoTxt) && strings.Contains(f.Problem, c.not) {
					t.Errorf("finding %q", f)
				}
			}
		})
	}
}

func TestReplacedCatalog(t *testing.T) {
	var k keys
	dir, st := folderArchive(t, &k)
	// A second, valid run of the batch; its signed catalog copied over the first's.
	write(t, config(st, k))
	runs, _ := archive.ListRuns(context.Background(), st, "all")
	a, b := archive.RunPrefix("all", runs[0].Run), archive.RunPrefix("all", runs[1].Run)
	for _, f := range []string{archive.CatalogFile, archive.CatalogSig} {
		body, _ := os.ReadFile(filepath.Join(dir, b+f))
		os.Chmod(filepath.Join(dir, a+f), 0o644)
		os.WriteFile(filepath.Join(dir, a+f), body, 0o644)
	}
	rep := check(t, st, k, List, nil)
	expect(t, rep, a+archive.CatalogFile, "not the catalog of this run")
}

func TestKeyHolderFindsPlaintextAlteredBeforeEncryption(t *testing.T) {
	k := newKeys(t)
	st, _ := archive.NewFileStore(t.TempDir())
	cfg := config(st, k)
	cfg.TamperPlaintext = func(path string, plain []byte) {
		if strings.HasPrefix(path, "data/MAKSE/") {
			if i := bytes.Index(plain, []byte(`"SUMMA":"`)); i >= 0 {
				plain[i+9] = '9'
			}
		}
	}
	write(t, cfg)
	// Without the identity nothing is wrong: the ciphertext is what was signed.
	expect(t, check(t, st, k, Full, nil), "", "")
	rep := check(t, st, k, Sample, func(o *Options) { o.Identities = k.identities })
	expect(t, rep, "data/MAKSE/", "altered before encryption")
}

// TestKeyHolderFindsBlocksARetrievalWouldRefuse makes a payload file anew
// with one byte of its gzip stream changed, encrypted to the archive's
// recipient as anyone could: the key-holder check names the block whose
// digest in the encrypted contents no longer matches, the one a retrieval
// would refuse.
func TestKeyHolderFindsBlocksARetrievalWouldRefuse(t *testing.T) {
	var k keys
	dir, st := folderArchive(t, &k)
	b, prefix := bundleDir(t, dir, 1)
	p, rel := firstPayload(t, b)
	ct, _ := os.ReadFile(p)
	d, err := age.Decrypt(bytes.NewReader(ct), k.identities...)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := io.ReadAll(d)
	cats, err := archive.LatestCatalogs(context.Background(), st, k.pub, "all")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := archive.NewReader(st, k.pub, k.identities, k.index).OpenBundle(context.Background(), cats[0].Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	// Every block's digest matches as written.
	blocks := bundle.BlockCheck(rel)
	if blocks == nil {
		t.Fatalf("%s: no block digests", rel)
	}
	blocks.Write(stream)
	if bad := blocks.Bad(); len(bad) != 0 {
		t.Fatalf("clean %s: blocks %v do not match", rel, bad)
	}
	stream[len(stream)-30] ^= 0x01 // inside the last block's deflate data or trailer
	blocks = bundle.BlockCheck(rel)
	blocks.Write(stream)
	bad := blocks.Bad()
	if len(bad) != 1 {
		t.Fatalf("forged %s: blocks %v do not match, want the last one", rel, bad)
	}
	var out bytes.Buffer
	enc, _ := age.Encrypt(&out, k.recipients...)
	enc.Write(stream)
	enc.Close()
	os.WriteFile(p, out.Bytes(), 0o644)

	rep := check(t, st, k, Full, func(o *Options) { o.Identities = k.identities })
	expect(t, rep, prefix+rel, "does not match the manifest")
	expect(t, rep, prefix+rel, fmt.Sprintf("block %d does not match the digests the encrypted contents keep", bad[0]))
}

func TestRestoreDrill(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var k keys
	_, st := folderArchive(t, &k)
	rep := check(t, st, k, Sample, func(o *Options) { o.Identities, o.Drill, o.Percent = k.identities, conn, 30 })
	expect(t, rep, "", "")
	if !strings.Contains(strings.Join(rep.Notes, " "), "restore drill") {
		t.Errorf("no drill ran: %v", rep.Notes)
	}
	// A catalog whose counts disagree with the bundles (signed all the same).
	bad, _ := archive.NewFileStore(t.TempDir())
	cfg := config(bad, k)
	cfg.TamperCatalog = func(c *archive.Catalog) {
		for i := range c.Bundles {
			s := c.Bundles[i].Tables["ISIK"]
			if s.Rows > 0 {
				s.Rows++
				c.Bundles[i].Tables["ISIK"] = s
			}
		}
	}
	write(t, cfg)
	rep = check(t, bad, k, List, func(o *Options) { o.Identities, o.Drill, o.Seed = k.identities, conn, 0 })
	expect(t, rep, "", "restore drill failed")
	var left int
	conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'starmig_drill_%'").Scan(&left)
	if left != 0 {
		t.Errorf("%d drill schemas left behind", left)
	}
}

// TestRestoreDrillWithoutItsDatabase: a drill whose scratch database ends
// its session, or refuses the drill a schema, could not run (exit 1); it
// is no finding about the archive (exit 4), and the error is the
// database's.
func TestRestoreDrillWithoutItsDatabase(t *testing.T) {
	ctx := context.Background()
	var k keys
	_, st := folderArchive(t, &k)
	dsn := testenv.Postgres(t)
	admin := testenv.Connect(t, dsn)

	lost, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", lost.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	refused := testenv.Connect(t, testenv.RoleWithoutCreate(t, dsn))

	for _, c := range []struct {
		name, want string
		conn       *pgx.Conn
	}{
		{"lost", "57P01", lost},
		{"refused", "42501", refused},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Verify(ctx, Options{Store: st, Pub: k.pub, Level: List, Seed: 1, Identities: k.identities, Drill: c.conn})
			cause := err != nil && (strings.Contains(err.Error(), c.want) || c.want == "57P01" && testenv.SessionEnded(err))
			if !errors.Is(err, ErrCannotRun) || !cause || strings.Contains(err.Error(), "conn closed") {
				t.Errorf("a drill without its database: %v (findings %v); want it could not run, for %s", err, rep, c.want)
			}
		})
	}
}

// TestKeyHolderChecksTheMoneyOfBlocks: a restore that leaves a block out
// as unreadable checks the money of the rest against the catalog's less
// the block's money, as the encrypted contents give it. A key holder's
// check finds a catalog (signed all the same) whose money disagrees with
// the blocks'; a clean archive gives no finding.
func TestKeyHolderChecksTheMoneyOfBlocks(t *testing.T) {
	var k keys
	_, st := folderArchive(t, &k)
	expect(t, check(t, st, k, Full, func(o *Options) { o.Identities = k.identities }), "", "")

	bad, _ := archive.NewFileStore(t.TempDir())
	cfg := config(bad, k)
	tampered := 0
	cfg.TamperCatalog = func(c *archive.Catalog) {
		for i := range c.Bundles {
			s := c.Bundles[i].Tables["MAKSE"]
			if s.Money["SUMMA"] != "" && tampered == 0 {
				sum, err := mapping.ParseSum(s.Money["SUMMA"])
				if err != nil {
					t.Fatal(err)
				}
				s.Money = map[string]string{"SUMMA": (sum + 1).String()} // a cent more
				c.Bundles[i].Tables["MAKSE"] = s
				tampered++
			}
		}
	}
	write(t, cfg)
	if tampered == 0 {
		t.Fatal("no bundle holds payments")
	}
	rep := check(t, bad, k, Full, func(o *Options) { o.Identities = k.identities })
	expect(t, rep, "", "MAKSE.SUMMA: the money of its blocks in the encrypted contents sums to ")
	if len(rep.Findings) != 1 {
		t.Errorf("%d findings, want the one: %v", len(rep.Findings), rep.Findings)
	}
	// Operators, who hold no identity, cannot see it.
	expect(t, check(t, bad, k, Full, nil), "", "")
}

// lockStore writes two objects of its bundles the wrong way round the
// store's back: one in GOVERNANCE mode, one locked too briefly.
type lockStore struct {
	*archive.S3Store
	client *minio.Client
	bucket string
}

func (s lockStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, until time.Time) error {
	switch {
	case strings.HasSuffix(key, "0001/"+archive.BagitTxt):
		_, err := s.client.PutObject(ctx, s.bucket, "star1/"+key, r, size, minio.PutObjectOptions{Mode: minio.Governance, RetainUntilDate: until})
		return err
	case strings.HasSuffix(key, "0001/"+archive.BagInfoTxt):
		until = until.AddDate(-5, 0, 0)
	}
	return s.S3Store.Put(ctx, key, r, size, until)
}

// lockedBucket makes a bucket with Object Lock on the test MinIO and
// returns a store on it (prefix star1), a client and the bucket's name.
func lockedBucket(t *testing.T) (*archive.S3Store, *minio.Client, string) {
	s3 := testenv.MinIO(t)
	client, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bucket := testenv.Name("verify-")
	if err := client.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	st, err := archive.NewS3Store(archive.S3Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: bucket, Prefix: "star1"})
	if err != nil {
		t.Fatal(err)
	}
	return st, client, bucket
}

func TestLocksOnMinIO(t *testing.T) {
	st, client, bucket := lockedBucket(t)
	ctx := context.Background()
	k := newKeys(t)
	// A clean archive first, in its own batch.
	clean := config(st, k)
	clean.Batch = "clean"
	write(t, clean)
	for _, level := range []string{List, Sample, Full} {
		rep := check(t, st, k, level, func(o *Options) { o.Batch = "clean" })
		expect(t, rep, "", "")
		if !rep.Locks {
			t.Error("locks not checked on S3")
		}
	}
	cfg := config(lockStore{st, client, bucket}, k)
	write(t, cfg)
	// A second version of one key.
	runs, _ := archive.ListRuns(ctx, st, "all")
	key := archive.RunPrefix("all", runs[0].Run) + "0002/" + archive.Manifest256
	if _, err := client.PutObject(ctx, bucket, "star1/"+key, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Audit entries: one written without a lock, one locked and then
	// given a second version.
	unlocked, twice := archive.AuditPrefix+"2026/20261121T100000Z-a1.json.age", archive.AuditPrefix+"2026/20261121T100001Z-b2.json.age"
	if _, err := client.PutObject(ctx, bucket, "star1/"+unlocked, strings.NewReader("entry"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, twice, strings.NewReader("entry"), 5, retain); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, bucket, "star1/"+twice, strings.NewReader("other"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := check(t, st, k, List, func(o *Options) { o.Batch = "all" })
	prefix := archive.RunPrefix("all", runs[0].Run)
	expect(t, rep, prefix+"0001/"+archive.BagitTxt, `retention mode "GOVERNANCE"`)
	expect(t, rep, prefix+"0001/"+archive.BagInfoTxt, "the policy says at least 2036-11-21")
	expect(t, rep, key, "2 versions")
	expect(t, rep, unlocked, `audit entry not locked: retention mode "", want COMPLIANCE`)
	expect(t, rep, twice, "audit entry not locked: 2 versions of the key, want 1")
	for _, f := range rep.Findings {
		if f.Object == twice && strings.Contains(f.Problem, "mode") {
			t.Errorf("%s: the first version is locked: %s", twice, f.Problem)
		}
	}
	// The second version is reported, and the first, which readers read,
	// is still whole.
	rep = check(t, st, k, Full, func(o *Options) { o.Batch = "all" })
	expect(t, rep, key, "2 versions")
	for _, f := range rep.Findings {
		if f.Object == key && f.Problem != "" && !strings.Contains(f.Problem, "versions") {
			t.Errorf("first version of %s: %s", key, f.Problem)
		}
	}
}

// failingStore stores n objects, then fails every write, as a run does
// that is killed or loses its link.
type failingStore struct {
	archive.Store
	n atomic.Int64
}

func (f *failingStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, until time.Time) error {
	if f.n.Add(-1) < 0 {
		return errors.New("network is down")
	}
	return f.Store.Put(ctx, key, r, size, until)
}

// TestInterruptedRunCompletedLaterIsCleanOnMinIO: a run interrupted, then
// completed by a run days later with the same --retention, so a later
// retain-until, passes every level. The objects the interrupted run left
// are accounted for and locked, and not held to the later run's date.
func TestInterruptedRunCompletedLaterIsCleanOnMinIO(t *testing.T) {
	st, _, _ := lockedBucket(t)
	k := newKeys(t)
	fs := &failingStore{Store: st}
	fs.n.Store(20)
	if err := writeRun(config(fs, k)); err == nil {
		t.Fatal("the first run was not interrupted")
	}
	later := config(st, k)
	later.Now, later.RetainUntil = now.AddDate(0, 0, 3), retain.AddDate(0, 0, 3)
	write(t, later)
	for _, level := range []string{List, Full} {
		rep := check(t, st, k, level, nil)
		expect(t, rep, "", "")
		if !rep.Locks {
			t.Error("locks not checked on S3")
		}
	}
	// A run of batch tallinn is interrupted, and the archive is written
	// next by another batch: that run accounts for it, or verification
	// would report tallinn's locked objects every day until tallinn ran
	// again.
	fs.n.Store(20)
	tallinn := config(fs, k)
	tallinn.Batch, tallinn.Now, tallinn.RetainUntil = "tallinn", now.AddDate(0, 0, 4), retain.AddDate(0, 0, 4)
	if err := writeRun(tallinn); err == nil {
		t.Fatal("the run of batch tallinn was not interrupted")
	}
	final := config(st, k)
	final.Batch, final.Now, final.RetainUntil = "final", now.AddDate(0, 0, 5), retain.AddDate(0, 0, 5)
	write(t, final)
	expect(t, check(t, st, k, List, nil), "", "")
	// Verifying batch final alone reads the objects of tallinn's run that
	// its catalog accounts for, outside its own folder.
	expect(t, check(t, st, k, List, func(o *Options) { o.Batch = "final" }), "", "")
}

func TestUnreachableStoreIsNotMissing(t *testing.T) {
	st, _ := archive.NewS3Store(archive.S3Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "x"})
	k := newKeys(t)
	_, err := Verify(context.Background(), Options{Store: st, Pub: k.pub, Level: List})
	if !errors.Is(err, ErrCannotRun) {
		t.Fatalf("unreachable store: %v, want ErrCannotRun", err)
	}
}

// TestSamplesRotateOverEverything: the same seed gives the same sample (a
// finding can be reproduced); consecutive seeds read every payload object
// within two cycles, from any start; seeds at a step equal to the cycle
// (the worst regular cadence) still reach everything; a byte budget is
// kept.
func TestSamplesRotateOverEverything(t *testing.T) {
	var k keys
	_, st := folderArchive(t, &k)
	full := check(t, st, k, Full, nil)
	payload := map[string]bool{}
	var sizes []int64
	if err := st.List(context.Background(), "", func(info archive.ObjectInfo) error {
		if strings.Contains(info.Key, "/data/") {
			payload[info.Key] = true
			sizes = append(sizes, info.Size)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(payload) < 5 || full.Sampled != nil {
		t.Fatalf("%d payload objects; a full check names no sample: %v", len(payload), full.Sampled)
	}
	// runs samples with seeds from, step, until every payload object was
	// read, and fails after limit runs.
	runs := func(percent float64, per int, from, step uint64, limit int) {
		t.Helper()
		seen := map[string]bool{}
		for n, seed := 0, from; len(seen) < len(payload); n, seed = n+1, seed+step {
			if n == limit {
				t.Fatalf("seeds %d, %d, …: after %d runs a %g%% sample has read %d of %d payload objects", from, from+step, n, percent, len(seen), len(payload))
			}
			rep := check(t, st, k, Sample, func(o *Options) { o.Percent, o.Seed = percent, seed })
			expect(t, rep, "", "")
			if len(rep.Sampled) != per || rep.Hashed != per {
				t.Fatalf("seed %d: sampled %d objects (hashed %d), want %d", seed, len(rep.Sampled), rep.Hashed, per)
			}
			for _, key := range rep.Sampled {
				if !payload[key] {
					t.Fatalf("seed %d sampled %s, not a payload object", seed, key)
				}
				seen[key] = true
			}
		}
	}
	const percent = 20
	per := (len(payload)*percent + 99) / 100
	windows := uint64((len(payload) + per - 1) / per)
	runs(percent, per, 0, 1, int(windows))
	runs(percent, per, windows/2+1, 1, int(2*windows-1))
	runs(percent, per, 5, windows, 20*int(windows))
	// One object a run: the cycle is every object, and a step of a whole
	// cycle would read the same object forever if the order did not change.
	n := uint64(len(payload))
	runs(99.9/float64(n), 1, 3, n, 20*int(n))
	for _, seed := range []uint64{0, 7, 12345} {
		a := check(t, st, k, Sample, func(o *Options) { o.Percent, o.Seed = percent, seed })
		b := check(t, st, k, Sample, func(o *Options) { o.Percent, o.Seed = percent, seed })
		if !slices.Equal(a.Sampled, b.Sampled) {
			t.Fatalf("seed %d gave two samples: %v and %v", seed, a.Sampled, b.Sampled)
		}
	}
	// A budget of twice the largest payload object reads at most that.
	budget := 2 * slices.Max(sizes)
	rep := check(t, st, k, Sample, func(o *Options) { o.Percent, o.Budget, o.Seed = 0, budget, 3 })
	var read int64
	for _, key := range rep.Sampled {
		info, err := st.Stat(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		read += info.Size
	}
	if len(rep.Sampled) == 0 || read > budget {
		t.Errorf("budget %d bytes: sampled %d objects of %d bytes", budget, len(rep.Sampled), read)
	}
}

// TestFindingsNameWhereTheyAre: each finding's line names the most precise
// place it has, and a batch asked for that the store does not hold is named.
func TestFindingsNameWhereTheyAre(t *testing.T) {
	for _, c := range []struct {
		f    Finding
		want string
	}{
		{Finding{Batch: "all", Run: "r1", Bundle: "0001", Object: "batches/all/r1/0001/data/ISIK/1.jsonl.gz.age", Problem: "missing"}, "batches/all/r1/0001/data/ISIK/1.jsonl.gz.age: missing"},
		{Finding{Batch: "all", Run: "r1", Bundle: "0002", Problem: "contents cannot be read"}, "batch all run r1 bundle 0002: contents cannot be read"},
		{Finding{Batch: "all", Run: "r1", Problem: "catalog signature does not verify"}, "batch all run r1: catalog signature does not verify"},
		{Finding{Batch: "tartu", Problem: "no archive run in the store"}, "batch tartu: no archive run in the store"},
		{Finding{Problem: "the bucket has no Object Lock"}, "the bucket has no Object Lock"},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}

	var k keys
	dir, st := folderArchive(t, &k)
	rep := check(t, st, k, List, func(o *Options) { o.Batch = "tartu" })
	if len(rep.Findings) != 1 || rep.Findings[0].String() != "batch tartu: no archive run in the store (it holds batch all)" {
		t.Errorf("a batch the store does not hold: %v", rep.Findings)
	}
	// An --archive one folder above the archive names the archive.
	above, err := archive.NewFileStore(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	rep = check(t, above, k, List, nil)
	if want := "no archive run in the store; the folder below, " + st.String() + ", holds an archive: is it the one meant?"; len(rep.Findings) != 1 || rep.Findings[0].String() != want {
		t.Errorf("the folder above the archive: %v, want %q", rep.Findings, want)
	}
	// An --archive of a run's folder, copied from a listing, names the
	// archive and the batch.
	runs, err := archive.ListRuns(context.Background(), st, "")
	if err != nil || len(runs) == 0 {
		t.Fatal(runs, err)
	}
	inside, err := archive.NewFileStore(filepath.Join(dir, "batches", "all", runs[0].Run))
	if err != nil {
		t.Fatal(err)
	}
	rep = check(t, inside, k, List, nil)
	if want := "no archive run in the store; it is the folder batches/all/" + runs[0].Run + " inside the archive " + st.String() + ": give that archive's URL, with --batch all"; len(rep.Findings) != 1 || rep.Findings[0].String() != want {
		t.Errorf("a run's folder: %v, want %q", rep.Findings, want)
	}
}

// TestSigningKeyReplaced: the signing key was replaced between two runs.
// With the public halves of both keys, one file holding one PEM block
// after the other, every level passes; with the new key alone, the older
// run's catalog is a finding that names the key it was signed with.
func TestSigningKeyReplaced(t *testing.T) {
	dir := t.TempDir()
	st, err := archive.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, renewed := newKeys(t), newKeys(t)
	write(t, config(st, old))
	cfg := config(st, renewed)
	cfg.Now = now.Add(24 * time.Hour)
	write(t, cfg)

	keyring := filepath.Join(t.TempDir(), "signing.pub")
	var pem []byte
	for _, k := range []keys{renewed, old} {
		der, err := x509.MarshalPKIXPublicKey(k.pub[0])
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, "-----BEGIN PUBLIC KEY-----\n"+base64.StdEncoding.EncodeToString(der)+"\n-----END PUBLIC KEY-----\n"...)
	}
	if err := os.WriteFile(keyring, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	both, err := archive.ReadSigningPub(keyring)
	if err != nil || len(both) != 2 {
		t.Fatalf("keyring: %d keys, %v", len(both), err)
	}
	for _, level := range []string{List, Sample, Full} {
		rep := check(t, st, keys{pub: both}, level, nil)
		expect(t, rep, "", "")
		if rep.Runs != 2 {
			t.Errorf("%s: %d runs verified, want 2", level, rep.Runs)
		}
	}
	rep := check(t, st, renewed, List, nil)
	oldID := archive.SigningKeyID(old.pub[0])
	if len(rep.Findings) == 0 || !strings.Contains(rep.Findings[0].Problem, "signed with key "+oldID) ||
		!strings.Contains(rep.Findings[0].Problem, archive.SigningKeyID(renewed.pub[0])) {
		t.Errorf("with the new key alone: %v, want the old run's catalog named with key %s", rep.Findings, oldID)
	}
}

// TestARunBeingWrittenIsANoteUntilTheGraceEnds: a run without a signed
// catalog is either being written or was interrupted; while the store
// wrote to it within the grace, a check notes it instead of reporting it,
// so that a daily check during an archive run raises no alarm.
func TestARunBeingWrittenIsANoteUntilTheGraceEnds(t *testing.T) {
	st, _, _ := lockedBucket(t)
	k := newKeys(t)
	write(t, config(st, k))
	fs := &failingStore{Store: st}
	fs.n.Store(12)
	writing := config(fs, k)
	writing.Batch, writing.Now, writing.RetainUntil = "tallinn", now.AddDate(0, 0, 1), retain.AddDate(0, 0, 1)
	if err := writeRun(writing); err == nil {
		t.Fatal("the run of batch tallinn was not stopped")
	}
	at := func(d time.Duration, grace time.Duration) func(*Options) {
		return func(o *Options) { o.Now, o.Grace = func() time.Time { return time.Now().Add(d) }, grace }
	}
	rep := check(t, st, k, List, at(0, 24*time.Hour))
	expect(t, rep, "", "")
	if !slices.ContainsFunc(rep.Notes, func(n string) bool {
		return strings.HasPrefix(n, "batches/tallinn/") && strings.Contains(n, "without a signed catalog") && strings.Contains(n, "taken to be a run still being written") &&
			strings.HasSuffix(n, "once it is 24h old")
	}) {
		t.Errorf("no note of the run being written: %q", rep.Notes)
	}
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for name, edit := range map[string]func(*Options){"a day later": at(25*time.Hour, 24*time.Hour), "no grace": at(0, 0)} {
		t.Run(name, func(t *testing.T) {
			expect(t, check(t, st, k, List, edit), "batches/tallinn/", "its run has no signed catalog and was last written")
		})
	}
}

// TestStorageLostMidwayIsNotAFinding: the link to the storage goes down in
// the middle of a verification, at each level, for the operators and for
// a key holder. The verification could not run (exit 1); it does not
// report objects as missing or damaged. A link that only drops a
// connection now and then is no finding and no reason to stop: each level
// reads on and finds the archive clean.
func TestStorageLostMidwayIsNotAFinding(t *testing.T) {
	st, _, bucket := lockedBucket(t)
	k := newKeys(t)
	write(t, config(st, k))
	s3 := testenv.MinIO(t)
	through := func(addr string) archive.Store {
		far, err := archive.NewS3Store(archive.S3Config{Endpoint: addr, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: bucket, Prefix: "star1"})
		if err != nil {
			t.Fatal(err)
		}
		return far
	}
	for _, level := range []string{List, Sample, Full} {
		for _, holder := range []bool{false, true} {
			edit := func(o *Options) {
				if holder {
					o.Identities = k.identities
				}
			}
			whole := testenv.CutAfter(t, s3.Endpoint, -1)
			expect(t, check(t, through(whole.Addr), k, level, edit), "", "")
			cut := testenv.CutAfter(t, s3.Endpoint, whole.Bytes()/2)
			o := Options{Store: through(cut.Addr), Pub: k.pub, Level: level, Percent: 100, Seed: 1}
			edit(&o)
			start := time.Now()
			rep, err := Verify(context.Background(), o)
			if !errors.Is(err, ErrCannotRun) {
				var found []Finding
				if rep != nil {
					found = rep.Findings
				}
				t.Errorf("%s (key holder %v), link down after %d of %d bytes: %v, findings %v; want ErrCannotRun", level, holder, cut.Bytes(), whole.Bytes(), err, found)
			}
			t.Logf("%s (key holder %v): %d of %d bytes, %v: %v", level, holder, cut.Bytes(), whole.Bytes(), time.Since(start).Round(time.Millisecond), err)

			measured := testenv.BlinkAt(t, s3.Endpoint)
			expect(t, check(t, through(measured.Addr), k, level, edit), "", "")
			n := measured.Bytes()
			blinking := testenv.BlinkAt(t, s3.Endpoint, n/5, n*2/5, n*3/5, n*4/5)
			expect(t, check(t, through(blinking.Addr), k, level, edit), "", "")
			if blinking.Dropped() != 4 {
				t.Errorf("%s (key holder %v): the link dropped %d connections, want 4", level, holder, blinking.Dropped())
			}
		}
	}
}

// TestKeyHolderChecksContentsAtEveryLevel: an identity given to a listing
// is no more idle than at the other levels. Each bundle's encrypted
// contents are decrypted, on record first, and held against the catalog:
// a catalog signed over other row counts, of a table the bundle holds or
// of one it does not, is found at level list, which the operators'
// listing cannot see, and an identity the archive was not
// encrypted to stops the check instead of passing it.
func TestKeyHolderChecksContentsAtEveryLevel(t *testing.T) {
	var k keys
	_, st := folderArchive(t, &k)
	recorded := 0
	onRecord := func(o *Options) {
		o.Identities = k.identities
		o.OnRecord = func([]*archive.Catalog) error { recorded++; return nil }
	}
	rep := check(t, st, k, List, onRecord)
	expect(t, rep, "", "")
	if recorded != 1 || rep.Hashed != 0 || !strings.Contains(strings.Join(rep.Notes, " "), "encrypted contents of 4 bundles decrypted") {
		t.Errorf("a key holder's listing: on record %d times, %d objects hashed, notes %v; want once, none, the contents of 4 bundles", recorded, rep.Hashed, rep.Notes)
	}

	bad, _ := archive.NewFileStore(t.TempDir())
	cfg := config(bad, k)
	var held, notHeld string // in bundle 0002
	cfg.TamperCatalog = func(c *archive.Catalog) {
		for _, table := range []string{"ISIK", "MENETLUS", "MAKSE", "DOKUMENT"} {
			s, ok := c.Bundles[1].Tables[table]
			switch {
			case ok && s.Rows > 0 && held == "":
				held = table
			case !ok && notHeld == "":
				notHeld = table
			default:
				continue
			}
			s.Rows += 2
			c.Bundles[1].Tables[table] = s
		}
	}
	write(t, cfg)
	if held == "" || notHeld == "" {
		t.Fatalf("bundle 0002 holds rows of %q and none of %q: want one of each", held, notHeld)
	}
	expect(t, check(t, bad, k, List, nil), "", "")
	for _, level := range []string{List, Sample, Full} {
		rep := check(t, bad, k, level, onRecord)
		expect(t, rep, "0002", held+": the encrypted contents count")
		expect(t, rep, "0002", notHeld+": the encrypted contents count no rows, the catalog 2")
	}

	other := newKeys(t)
	_, err := Verify(context.Background(), Options{Store: st, Pub: k.pub, Level: List, Identities: other.identities})
	if !errors.Is(err, ErrCannotRun) || !strings.Contains(err.Error(), "not one this run was encrypted to") {
		t.Errorf("a listing with another identity: %v; want it could not run, naming the identity", err)
	}
}
