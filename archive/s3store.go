package archive

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is how to reach an S3-compatible object store.
type S3Config struct {
	Endpoint  string // host:port
	Secure    bool   // https
	CAFile    string // extra CA certificates for https, PEM
	Region    string
	AccessKey string
	SecretKey string
	// SessionToken goes with temporary credentials (STS), else empty.
	SessionToken string
	// Provider, when set, gives the credentials instead of the three
	// fields above: credentials that expire, and that it gives anew
	// before they do (S3ConfigFromEnv).
	Provider credentials.Provider
	// CredentialsFrom says where the credentials come from, for the
	// errors of a storage that refuses them; "" is the environment's
	// STARMIG_S3_* or AWS_* variables.
	CredentialsFrom string
	Bucket          string
	Prefix          string // key prefix inside the bucket, no leading or trailing slash
}

// S3Store is a Store in an S3 bucket with Object Lock.
//
// A key of a versioned bucket can hold more than one version: the archive
// never writes a second one, but anyone with write rights can, and a
// delete without a version id leaves a delete marker on top. The archive
// is what was written first, so Get, Open, Stat, List and Keys all read and
// describe a key's first version (Versions still counts them all). The
// first versions are learnt from listings, which readers make before they
// read (Learn); a key not listed yet costs one listing of its own.
type S3Store struct {
	client *minio.Client
	cfg    S3Config
	// partSize, when set, is the size of the parts of an upload in parts
	// (defaultPartSize otherwise); tests lower it.
	partSize  int64
	writeWait time.Duration // SetWriteWait
	pause     time.Duration // the unit of the pauses between tries (tests); 0: 200 ms

	mu     sync.Mutex
	first  map[string]string // key → id of its first version, "" on a bucket without versioning
	learnt []string          // folders whose listing ended: the first versions of their keys are known
}

// NewS3Store connects to the bucket; nothing is sent until first use.
func NewS3Store(cfg S3Config) (*S3Store, error) {
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	if cfg.Provider != nil {
		creds = credentials.New(namedProvider{cfg.Provider, cfg.CredentialsFrom})
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		MaxRetries: 4,
	}
	if cfg.Secure {
		tr, err := minio.DefaultTransport(true)
		if err != nil {
			return nil, err
		}
		opts.Transport = plainHTTPHint{tr}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("archive: S3 CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(keyText(pem)) {
			return nil, fmt.Errorf("archive: S3 CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tr, err := minio.DefaultTransport(cfg.Secure)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		opts.Transport = plainHTTPHint{tr}
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("archive: S3 endpoint %s: %w", cfg.Endpoint, err)
	}
	return &S3Store{client: client, cfg: cfg, first: map[string]string{}}, nil
}

// plainHTTPHint says how to reach an endpoint that answers https with
// plain http (the endpoint was given without its scheme, and https is the
// default), one whose certificate a CA signed that this machine does not
// trust (a site's own CA), one whose certificate is for another name, and
// one whose certificate has expired.
type plainHTTPHint struct{ http.RoundTripper }

func (t plainHTTPHint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	var (
		rec     tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		name    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &rec) && string(rec.RecordHeader[:]) == "HTTP/":
		err = fmt.Errorf("%s answers https in plain http: give it as http://%s in STARMIG_S3_ENDPOINT, or set STARMIG_S3_INSECURE=1 (%w)", r.URL.Host, r.URL.Host, err)
	case errors.As(err, &unknown):
		err = fmt.Errorf("%w; the storage's certificate is signed by a CA this machine does not trust: set STARMIG_S3_CA_FILE (or AWS_CA_BUNDLE) to that CA's certificate, PEM", err)
	case errors.As(err, &name):
		err = fmt.Errorf("%w; give the endpoint in STARMIG_S3_ENDPOINT by a name its certificate is for", err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		err = fmt.Errorf("%w; the storage's certificate has expired, or is not valid yet by this machine's clock: the storage's administrators must renew it, or the clock be set right", err)
	}
	return resp, err
}

func (s *S3Store) String() string {
	if s.cfg.Prefix == "" {
		return "s3://" + s.cfg.Bucket
	}
	return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
}

// up is the store n folders above this one, on the same client: the
// archive that a URL pointing inside it belongs to.
func (s *S3Store) up(n int) Store {
	cfg := s.cfg
	parts := strings.Split(cfg.Prefix, "/")
	cfg.Prefix = strings.Join(parts[:max(len(parts)-n, 0)], "/")
	return &S3Store{client: s.client, cfg: cfg, partSize: s.partSize, writeWait: s.writeWait, first: map[string]string{}}
}

// folders is the store's prefix in its bucket.
func (s *S3Store) folders() string { return s.cfg.Prefix }

// Locks is true: every object is written in COMPLIANCE mode.
func (s *S3Store) Locks() bool { return true }

func (s *S3Store) full(key string) string {
	if s.cfg.Prefix == "" {
		return key
	}
	return s.cfg.Prefix + "/" + key
}

func (s *S3Store) rel(full string) string {
	if s.cfg.Prefix == "" {
		return full
	}
	return strings.TrimPrefix(full, s.cfg.Prefix+"/")
}

// CheckWritable refuses a bucket that is missing or has no Object Lock.
func (s *S3Store) CheckWritable(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", s, s.refused(err))
	}
	if !ok {
		return s.noBucket()
	}
	var enabled string
	err = askAgain(ctx, func() (err error) {
		enabled, _, _, _, err = s.client.GetObjectLockConfig(ctx, s.cfg.Bucket)
		return err
	})
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return fmt.Errorf("archive: %s: reading the Object Lock configuration: %w", s, s.refused(err))
	}
	if enabled != "Enabled" {
		return fmt.Errorf("archive: %s: %w; the archive is written only to a bucket created with Object Lock (versioning and COMPLIANCE retention), so that nothing can be deleted or overwritten", s, ErrNoLock)
	}
	return nil
}

// Put writes with If-None-Match: * so an existing key is never replaced,
// in COMPLIANCE mode until retainUntil, retrying transient failures, and
// then checks that the key holds exactly one version of the size written.
// An object larger than a part, read from a file or from memory (r is an
// io.ReaderAt), goes up in parts (putInParts), so that a connection that
// breaks costs one part sent again, not the whole object.
func (s *S3Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, retainUntil time.Time) error {
	if err := checkLength(r, size); err != nil {
		return fmt.Errorf("archive: put %s: %w", key, err)
	}
	if ra, ok := r.(io.ReaderAt); ok && size > s.parts() {
		return s.putInParts(ctx, key, r, ra, size, retainUntil)
	}
	opts := minio.PutObjectOptions{
		Mode:             minio.Compliance,
		RetainUntilDate:  retainUntil.UTC().Truncate(time.Second),
		DisableMultipart: size <= 1<<30,
		PartSize:         64 << 20,
		ContentType:      "application/octet-stream",
	}
	opts.SetMatchETagExcept("*")
	t := s.tries()
	for {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("archive: put %s: %w", key, err)
		}
		_, err := s.client.PutObject(ctx, s.cfg.Bucket, s.full(key), r, size, opts)
		if err == nil {
			return s.checkPut(ctx, key, size)
		}
		code := minio.ToErrorResponse(err).Code
		if code == "PreconditionFailed" {
			// The key exists. If it holds these very bytes, an earlier
			// attempt got through and its answer was lost: ours, or one of
			// the client library's own retries inside this attempt.
			settled, serr := s.settle(ctx, key, r, size)
			if settled {
				return serr
			}
			err = serr
		} else if !transient(err) || ctx.Err() != nil {
			return fmt.Errorf("archive: put %s: %w", key, s.refused(err))
		}
		if !t.again(ctx) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("archive: put %s: %s: %w", key, t.gaveUp(), err)
		}
	}
}

// settle asks what a key holds after a write of r met the key taken or
// lost its answer. When that settles the write, settled is true and err
// is the write's outcome: nil when the key holds these very bytes (then
// checked as after a put), ErrExists when it holds others, or the error
// that kept it from telling. Otherwise err says why it cannot tell yet
// (the key holds nothing, or a transient failure), and the write may be
// tried again.
func (s *S3Store) settle(ctx context.Context, key string, r io.ReadSeeker, size int64) (settled bool, err error) {
	same, err := s.sameContent(ctx, key, r, size)
	switch {
	case err == nil && same:
		return true, s.checkPut(ctx, key, size)
	case err == nil:
		return true, fmt.Errorf("archive: put %s: %w", key, ErrExists)
	case minio.ToErrorResponse(err).Code == "NoSuchKey":
		return false, err
	case !transient(err) || ctx.Err() != nil:
		// Which bytes the key holds is not known: not ErrExists.
		return true, fmt.Errorf("archive: put %s: comparing with the object there: %w", key, s.refused(err))
	}
	return false, err
}

// sameContent reports whether the stored object is the one in r: by its
// ETag where that is the MD5 of its bytes or of its parts', else by
// reading it back. An error says that it could not tell.
func (s *S3Store) sameContent(ctx context.Context, key string, r io.ReadSeeker, size int64) (bool, error) {
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, s.full(key), minio.StatObjectOptions{})
	if err != nil {
		return false, err
	}
	if info.Size != size {
		return false, nil
	}
	stored := strings.Trim(info.ETag, `"`)
	if ra, ok := r.(io.ReaderAt); ok && strings.HasSuffix(stored, fmt.Sprintf("-%d", partCount(size, s.parts()))) {
		// Written in as many parts as this store writes: the ETag is
		// the MD5 of the parts' MD5s. Another ETag may still be these
		// bytes in parts of another size; they are read back below.
		etag, err := partsETag(ra, size, s.parts())
		if err != nil {
			return false, err
		}
		if stored == etag {
			return true, nil
		}
	}
	if etag, err := hex.DecodeString(stored); err == nil && len(etag) == md5.Size && etagIsMD5(info) {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		h := md5.New()
		if _, err := io.Copy(h, r); err != nil {
			return false, err
		}
		return bytes.Equal(etag, h.Sum(nil)), nil
	}
	obj, err := s.stream(ctx, key, info.VersionID, 0, -1)
	if err != nil {
		return false, err
	}
	defer obj.Close()
	return sameBytes(obj, r, size)
}

// etagIsMD5 tells whether the ETag of an object written in one request is
// the MD5 of its bytes: not for one the storage encrypted with a KMS key
// (SSE-KMS, DSSE-KMS, a bucket's default on many sites) or a key of the
// client's (SSE-C), whose ETag it makes otherwise.
func etagIsMD5(info minio.ObjectInfo) bool {
	return !strings.HasPrefix(strings.ToLower(info.Metadata.Get("X-Amz-Server-Side-Encryption")), "aws:kms") &&
		info.Metadata.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") == ""
}

// SetWriteWait sets how long a write keeps asking a storage that does not
// answer, a link abroad that is down, before it gives up: its pauses
// between tries, each at most 30 s, add up to at most d. Without it a
// write gives up after five tries, about 20 s with the client's own
// retries. A run of hours is not lost to an outage of minutes.
func (s *S3Store) SetWriteWait(d time.Duration) { s.writeWait = d }

func (s *S3Store) checkPut(ctx context.Context, key string, size int64) error {
	var info ObjectInfo
	err := s.tryAgain(ctx, func() error {
		var err error
		info, err = s.Stat(ctx, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("archive: put %s: checking the stored object: %w", key, err)
	}
	switch {
	case info.Versions != 1:
		return fmt.Errorf("archive: put %s: the key holds %d versions after the write, want 1", key, info.Versions)
	case info.Size != size:
		return fmt.Errorf("archive: put %s: stored %d bytes, wrote %d", key, info.Size, size)
	case info.Mode != string(minio.Compliance):
		return fmt.Errorf("archive: put %s: stored object is not locked in COMPLIANCE mode (%q)", key, info.Mode)
	}
	return nil
}

func (s *S3Store) wrap(key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchObject", "NoSuchVersion":
		return fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	case "NoSuchBucket":
		return s.noBucket()
	}
	return fmt.Errorf("archive: %s: %w", key, s.refused(err))
}

// listError names a listing that failed; a bucket that does not exist is
// named as CheckWritable and verification name it.
func (s *S3Store) listError(prefix string, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
		return s.noBucket()
	}
	return fmt.Errorf("archive: list %s: %w", prefix, s.refused(err))
}

// refused adds to an error of credentials the storage does not know, or
// whose secret or session token is wrong, where they come from (and to
// one of a clock the storage finds too far from its own, what to set
// right): the storage's own words
// ("The Access Key Id you provided does not exist in our records") do
// not say which of starmig's settings to look at. To a request the
// credentials have no right to ("Access Denied."), it adds that each
// role has credentials of its own, and where their rights are written.
func (s *S3Store) refused(err error) error {
	from := s.cfg.CredentialsFrom
	switch minio.ToErrorResponse(err).Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		if from == "" {
			from = "STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
		}
		return fmt.Errorf("the storage refused the credentials; check %s: %w", from, err)
	case "InvalidTokenId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
		if s.cfg.Provider != nil {
			return fmt.Errorf("the storage refused the session token of the temporary credentials that %s gave; check what gives them: %w", from, err)
		}
		if from == "" {
			from = "STARMIG_S3_SESSION_TOKEN (or AWS_SESSION_TOKEN)"
		}
		return fmt.Errorf("the storage refused the session token of temporary credentials, which expire; check %s, "+
			"and get new temporary credentials with their token: %w", from, err)
	case "RequestTimeTooSkewed":
		return fmt.Errorf("this machine's clock is too far from the storage's; set it right (NTP), then run the same command again: %w", err)
	case "AccessDenied":
		return fmt.Errorf("%s: %w", errNoRight, err)
	}
	return err
}

// errNoRight is the note refused adds to "Access Denied.".
var errNoRight = "the storage denied these credentials this request; each role has credentials of its own " +
	"(" + rolesText() + "), with the rights docs/archive.md and docs/runbook-operators.md give"

func (s *S3Store) noBucket() error {
	return fmt.Errorf("archive: %s: bucket %s does not exist", s, s.cfg.Bucket)
}

func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	v, err := s.firstVersion(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.stream(ctx, key, v, 0, -1)
}

// maxResumes is how many times in a row, with not a byte or a key
// received in between, a read or a listing asks again after its
// connection broke.
const maxResumes = 5

// askAgain runs ask, a request whose small answer the client reads after
// its own retries are over, again when the connection broke in the
// middle of that answer, up to maxResumes times.
func askAgain(ctx context.Context, ask func() error) error {
	for tries := 0; ; tries++ {
		err := ask()
		if err == nil || tries == maxResumes || ctx.Err() != nil || minio.ToErrorResponse(err).Code != "" ||
			!errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
			return err
		}
	}
}

// objectStream reads one version of an object from off up to end
// (exclusive; below 0: to the object's end) and, when the connection
// breaks in the middle, asks for the rest of the same bytes again from
// where it broke. A long link abroad resets a connection now and then,
// and a verification or a restore that reads every object of an archive
// would otherwise stop at the first reset. A request that fails, after
// the client's own retries, ends the read: the link is down then, and
// that is the storage's error. It reads the answer's body itself
// (minio.Core): minio.Object keeps the first error of a body, and its
// Stat asks the store again.
type objectStream struct {
	s        *S3Store
	ctx      context.Context
	key      string
	opts     minio.GetObjectOptions // the version and, after the first answer, its ETag
	off, end int64                  // off: the bytes received so far
	body     io.ReadCloser
	broken   error // what broke the body, not yet answered
	resumes  int
	err      error // what ended the stream
}

func (s *S3Store) stream(ctx context.Context, key, version string, off, end int64) (*objectStream, error) {
	st := &objectStream{s: s, ctx: ctx, key: key, opts: minio.GetObjectOptions{VersionID: version}, off: off, end: end}
	if err := st.request(); err != nil {
		return nil, err
	}
	return st, nil
}

// request asks for the object's bytes from off on; the first answer
// fixes where they end and, by its ETag, which bytes a resumed read must
// get: a key that gained a version since is refused, not read on from it.
func (st *objectStream) request() error {
	if st.off > 0 || st.end >= 0 {
		last := int64(0) // to the end
		if st.end >= 0 {
			last = st.end - 1
		}
		if err := st.opts.SetRange(st.off, last); err != nil {
			return err
		}
	}
	body, info, _, err := minio.Core{Client: st.s.client}.GetObject(st.ctx, st.s.cfg.Bucket, st.s.full(st.key), st.opts)
	if err != nil {
		return st.s.wrap(st.key, err)
	}
	if st.end < 0 {
		st.end = st.off + info.Size // the answer's length
	}
	if info.ETag != "" && st.opts.Header().Get("If-Match") == "" {
		_ = st.opts.SetMatchETag(info.ETag)
	}
	st.body, st.broken = body, nil
	return nil
}

func (st *objectStream) Read(p []byte) (int, error) {
	if st.err != nil {
		return 0, st.err
	}
	for {
		if st.broken == nil {
			n, err := st.body.Read(p)
			st.off += int64(n)
			if n > 0 {
				st.resumes = 0 // it goes on
			}
			if err == nil || err == io.EOF {
				return n, err
			}
			st.broken = err
			if n > 0 {
				return n, nil
			}
		}
		switch {
		case st.off >= st.end:
			return 0, io.EOF // it broke after its last byte
		case st.ctx.Err() != nil || minio.ToErrorResponse(st.broken).Code != "" || st.resumes == maxResumes:
			st.err = st.broken
			return 0, st.err
		}
		st.resumes++
		st.body.Close()
		st.body = nil
		if err := st.request(); err != nil {
			st.err = fmt.Errorf("%w (the connection broke after %d bytes, and asking for the rest failed: %w)", st.broken, st.off, err)
			return 0, st.err
		}
	}
}

func (st *objectStream) Close() error {
	if st.body == nil {
		return nil // closed when asking for the rest failed
	}
	return st.body.Close()
}

type s3Object struct {
	s       *S3Store
	ctx     context.Context
	key     string
	version string
	size    int64
}

func (o *s3Object) Size() int64  { return o.size }
func (o *s3Object) Close() error { return nil }

// ReadAt reads one range with one ranged GET, resumed if its connection
// breaks (objectStream).
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), o.size-off)
	body, err := o.s.stream(o.ctx, o.key, o.version, off, off+want)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, o.s.wrap(o.key, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Open with a known size asks nothing: over a long link that saves a
// round trip per file a retrieval opens.
func (s *S3Store) Open(ctx context.Context, key string, size int64) (Object, error) {
	if size < 0 {
		// One listing gives the first version's size and id, without
		// Stat's retention lookup.
		if err := s.eachKey(ctx, key, func(v *versions) error {
			if v.key == key {
				size = v.first.Size
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if size < 0 {
			return nil, fmt.Errorf("archive: %s: %w", key, ErrNotExist)
		}
	}
	v, err := s.firstVersion(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Object{s: s, ctx: ctx, key: key, version: v, size: size}, nil
}

// firstVersion is the id of key's first version, from the listings made
// so far or else from a listing of its own. A key no listing shows (never
// written, or listed before it was written) gets "", the latest version.
func (s *S3Store) firstVersion(ctx context.Context, key string) (string, error) {
	s.mu.Lock()
	v, ok := s.first[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	if err := s.eachKey(ctx, key, func(*versions) error { return nil }); err != nil {
		return "", err
	}
	s.mu.Lock()
	v = s.first[key]
	s.mu.Unlock()
	return v, nil
}

// versions gathers the listing of one key's versions, which S3 gives one
// after another.
type versions struct {
	key    string
	n      int // versions and delete markers
	first  minio.ObjectInfo
	exists bool // it has a version that is not a delete marker
}

func (v *versions) add(obj minio.ObjectInfo) {
	v.n++
	if obj.IsDeleteMarker {
		return
	}
	// Newest first in S3's listing; by date, in case a store lists
	// otherwise.
	if !v.exists || !obj.LastModified.After(v.first.LastModified) {
		v.first = obj
	}
	v.exists = true
}

// eachKey lists every key under prefix with all its versions, learns each
// key's first version, and calls fn for each key that has one.
func (s *S3Store) eachKey(ctx context.Context, prefix string, fn func(*versions) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing's goroutine when fn stops early
	var cur *versions
	flush := func() error {
		if cur == nil || !cur.exists {
			return nil
		}
		id := cur.first.VersionID
		if id == "null" {
			id = "" // written while the bucket had no versioning
		}
		s.mu.Lock()
		s.first[cur.key] = id
		s.mu.Unlock()
		return fn(cur)
	}
	// A listing whose connection broke in the middle is asked for again
	// after the last key handed on, as an object's read is (objectStream).
	after, page := "", 0
	for resumes := 0; ; {
		var listErr error
		for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.full(prefix), Recursive: true, WithVersions: true, StartAfter: after, MaxKeys: page}) {
			if obj.Err != nil {
				listErr = obj.Err
				break
			}
			key := s.rel(obj.Key)
			if cur == nil || cur.key != key {
				if err := flush(); err != nil {
					return err
				}
				if cur != nil {
					after, resumes = s.full(cur.key), 0
				}
				cur = &versions{key: key}
			}
			cur.add(obj)
		}
		if listErr == nil {
			break
		}
		if ctx.Err() != nil || minio.ToErrorResponse(listErr).Code != "" || resumes == maxResumes {
			return s.listError(prefix, listErr)
		}
		resumes++
		page = smallerPage(page)
		cur = nil // its versions come again
	}
	if err := flush(); err != nil {
		return err
	}
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		s.mu.Lock()
		s.learnt = append(s.learnt, prefix)
		s.mu.Unlock()
	}
	return nil
}

// Learn lists the keys under a folder's prefix, to learn their first
// versions, unless a listing of it or of a folder above it has already
// ended.
func (s *S3Store) Learn(ctx context.Context, prefix string) error {
	s.mu.Lock()
	for _, p := range s.learnt {
		if strings.HasPrefix(prefix, p) {
			s.mu.Unlock()
			return nil
		}
	}
	s.mu.Unlock()
	return s.eachKey(ctx, prefix, func(*versions) error { return nil })
}

func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	var found *ObjectInfo
	err := s.list(ctx, key, func(info ObjectInfo) error {
		if info.Key == key {
			found = &info
		}
		return nil
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	if found == nil {
		return ObjectInfo{}, fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	}
	return *found, nil
}

func (s *S3Store) Keys(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return s.eachKey(ctx, prefix, func(v *versions) error { return fn(v.key, v.first.Size) })
}

func (s *S3Store) Dirs(ctx context.Context, prefix string, fn func(string) error) error {
	if err := dirPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := s.full(prefix)
	// With versions, so that a folder whose keys are all hidden by delete
	// markers is still seen, as Keys sees such keys.
	// A listing whose connection broke is asked for again after the
	// last name handed on (names come in order), and the names already
	// handed on are not handed on twice.
	seen, page, after := map[string]bool{}, 0, ""
	for resumes := 0; ; {
		handed := len(seen)
		var listErr error
		for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, WithVersions: true, MaxKeys: page, StartAfter: after}) {
			if obj.Err != nil {
				listErr = obj.Err
				break
			}
			name, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, full), "/")
			if !ok || name == "" || strings.Contains(name, "/") || seen[name] {
				continue // a key directly under prefix, or a folder handed on
			}
			seen[name], after = true, obj.Key
			if err := fn(name); err != nil {
				return err
			}
		}
		if listErr == nil {
			return nil
		}
		if len(seen) > handed {
			resumes = 0 // it went on
		}
		if ctx.Err() != nil || minio.ToErrorResponse(listErr).Code != "" || resumes == maxResumes {
			return s.listError(prefix, listErr)
		}
		resumes++
		page = smallerPage(page)
	}
}

// smallerPage is how many keys a listing asks for in each page after its
// connection broke again, page being what it asked for before (0: the
// storage's own size, 1000). A page is read whole before its keys are
// handed on, so on a link that breaks every page, a reset every few
// hundred kilobytes, pages of 1000 keys never get through; each break
// halves them, down to 16, for the rest of the listing.
func smallerPage(page int) int {
	if page == 0 {
		page = 1000
	}
	return max(page/2, 16)
}

func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return s.list(ctx, prefix, fn)
}

// listRetentionLookups is how many retention lookups List has in flight:
// one round trip each, so over a long link they are asked many at a time.
const listRetentionLookups = 32

// list groups the versions of each key and reads the retention of its
// first version, several keys at a time.
func (s *S3Store) list(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		info    ObjectInfo
		version string
		done    chan error
	}
	queue := make(chan *item, 64)
	work := make(chan *item, 64)
	var wg sync.WaitGroup
	for range listRetentionLookups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if it.version == "" {
					it.done <- nil
					continue
				}
				var mode *minio.RetentionMode
				var until *time.Time
				err := askAgain(ctx, func() (err error) {
					mode, until, err = s.client.GetObjectRetention(ctx, s.cfg.Bucket, s.full(it.info.Key), it.version)
					return err
				})
				if err != nil && minio.ToErrorResponse(err).Code != "NoSuchObjectLockConfiguration" {
					it.done <- fmt.Errorf("archive: retention of %s: %w", it.info.Key, s.refused(err))
					continue
				}
				if mode != nil {
					it.info.Mode = string(*mode)
				}
				if until != nil {
					it.info.RetainUntil = until.UTC()
				}
				it.done <- nil
			}
		}()
	}
	listErr := make(chan error, 1)
	go func() {
		defer close(work)
		defer close(queue)
		listErr <- s.eachKey(ctx, prefix, func(v *versions) error {
			it := &item{info: ObjectInfo{Key: v.key, Size: v.first.Size, Versions: v.n, Modified: v.first.LastModified.UTC()}, version: v.first.VersionID, done: make(chan error, 1)}
			for _, ch := range []chan *item{queue, work} {
				select {
				case ch <- it:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}()
	var err error
	for it := range queue {
		// Once the context is done, an item queued may never reach a
		// lookup (the lister gives up between the two channels): its
		// answer is not waited for.
		var e error
		select {
		case e = <-it.done:
		case <-ctx.Done():
			e = ctx.Err()
		}
		if e != nil && err == nil {
			err = e
			cancel()
		}
		if err == nil {
			if e := fn(it.info); e != nil {
				err = e
				cancel()
			}
		}
	}
	wg.Wait()
	if e := <-listErr; err == nil && e != nil {
		return e
	}
	if err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// transient reports whether a failed request is worth another try: the
// network failed, or the server said it was busy or failing.
func transient(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "SlowDown", "SlowDownWrite", "RequestTimeout", "InternalError", "ServiceUnavailable", "XMinioServerNotInitialized", "OperationTimedOut":
		return true
	}
	return resp.StatusCode >= 500 || errors.Is(err, io.ErrUnexpectedEOF) && resp.StatusCode != 0
}
