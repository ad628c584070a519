package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/starmig/starmig/internal/testenv"
)

// credentialProcess writes a profile whose credential_process runs a
// script, in a folder whose name has a space: the script counts its runs
// and then runs the shell commands of the file that the returned
// function writes.
func credentialProcess(t *testing.T) (config string, runs func() int, does func(commands string)) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the test's credential_process is a shell script")
	}
	dir := filepath.Join(t.TempDir(), "host vault")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script, count, body := filepath.Join(dir, "credentials"), filepath.Join(dir, "runs"), filepath.Join(dir, "does")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho run >> \"$1\"\n. \"$2\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(dir, "config")
	profile := fmt.Sprintf("[profile vault]\nregion = eu-north-1\ncredential_process = %q %q %q\n", script, count, body)
	if err := os.WriteFile(config, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	runs = func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "run")
	}
	does = func(commands string) {
		if err := os.WriteFile(body, []byte(commands), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return config, runs, does
}

// printJSON is the shell commands that print v as JSON.
func printJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return "cat <<'EOF'\n" + string(b) + "\nEOF\n"
}

// TestACredentialProcess: a profile's credential_process is run through
// the shell, as the AWS SDK for Go runs it (a quoted path with a space
// in it), and its credentials are taken: asked for again once their
// Expiration is near, never again without one. A command that fails, or
// prints what is not credentials in the AWS form, is an error that names
// the profile and does not quote what it printed; what it wrote to
// standard error goes to starmig's.
func TestACredentialProcess(t *testing.T) {
	config, runs, does := credentialProcess(t)
	cfg, err := S3ConfigFromEnv(func(name string) string {
		return map[string]string{"STARMIG_S3_ENDPOINT": "s3.host.example", "HOME": t.TempDir(), "AWS_CONFIG_FILE": config, "AWS_PROFILE": "vault"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := cfg.Provider.(*processCredentials)
	if !ok || cfg.AccessKey != "" {
		t.Fatalf("the profile's credential_process gives %T, keys %q", cfg.Provider, cfg.AccessKey)
	}
	if want := `the credential_process of profile "vault" in ` + config; cfg.CredentialsFrom != want {
		t.Errorf("the credentials are said to come from %q, want %q", cfg.CredentialsFrom, want)
	}
	var stderr bytes.Buffer
	p.stderr = &stderr
	creds := credentials.New(namedProvider{p, cfg.CredentialsFrom})
	get := func() (credentials.Value, error) { return creds.GetWithContext(&credentials.CredContext{}) }

	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	does(printJSON(t, map[string]any{"Version": 1, "AccessKeyId": "ASIAVAULT", "SecretAccessKey": "vault-secret", "SessionToken": "vault-token", "Expiration": later}))
	for range 3 {
		v, err := get()
		if err != nil || v.AccessKeyID != "ASIAVAULT" || v.SecretAccessKey != "vault-secret" || v.SessionToken != "vault-token" || !v.Expiration.Equal(later) {
			t.Fatalf("credentials %+v (%v)", v, err)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("the command ran %d times for credentials that last an hour, want once", n)
	}

	does(printJSON(t, map[string]any{"Version": 1, "AccessKeyId": "ASIASTALE", "SecretAccessKey": "stale-secret", "SessionToken": "t", "Expiration": "2000-01-01T00:00:00Z"}))
	creds.Expire()
	for range 3 {
		if v, err := get(); err != nil || v.AccessKeyID != "ASIASTALE" {
			t.Fatalf("credentials %+v (%v)", v, err)
		}
	}
	if n := runs(); n != 4 {
		t.Errorf("the command ran %d times, want once more for each use of credentials that have expired (4)", n)
	}

	does(printJSON(t, map[string]any{"Version": 1, "AccessKeyId": "AKIALASTING", "SecretAccessKey": "lasting-secret"}))
	for range 3 {
		if v, err := get(); err != nil || v.AccessKeyID != "AKIALASTING" || v.SessionToken != "" {
			t.Fatalf("credentials %+v (%v)", v, err)
		}
	}
	if n := runs(); n != 5 {
		t.Errorf("the command ran %d times, want once more for credentials without an Expiration (5)", n)
	}

	for _, c := range []struct{ what, commands, want string }{
		{"a command that fails", "echo 'the vault is sealed' >&2\nexit 3\n", "the command failed (exit status 3); what it wrote to standard error is above"},
		{"not JSON", "echo 'AKIAVAULT wJalrXUtnFEMI'\n", "the command did not print credentials in the AWS form"},
		{"another Version", printJSON(t, map[string]any{"Version": 2, "AccessKeyId": "AKIAVAULT", "SecretAccessKey": "wJalrXUtnFEMI"}), "credentials of Version 2; starmig reads Version 1"},
		{"no secret", printJSON(t, map[string]any{"Version": 1, "AccessKeyId": "AKIAVAULT"}), "no AccessKeyId or no SecretAccessKey"},
		{"too much", "head -c 70000 /dev/zero | tr '\\0' 'w'\n", "printed more than 64 KiB"},
	} {
		does(c.commands)
		creds.Expire()
		_, err := get()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "S3 credentials from "+cfg.CredentialsFrom+": ") {
			t.Errorf("%s: %v; want an error naming the profile and saying %q", c.what, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "wJalr") {
			t.Errorf("%s: the error quotes what the command printed: %v", c.what, err)
		}
	}
	if !strings.Contains(stderr.String(), "the vault is sealed") {
		t.Errorf("what the command wrote to standard error did not reach starmig's: %q", stderr.String())
	}
}

// TestS3CredentialsThatRenew: credentials that a profile's
// credential_process, a container's credentials endpoint, or a web
// identity token exchanged at an STS endpoint give are used on MinIO,
// asked for again at each request while they have expired, and kept
// while they last. A refusal of them names where they came from, and so
// does a source that cannot give them. The credentials are MinIO's own
// temporary ones (STS AssumeRole); the container's endpoint and the STS
// that takes the web identity token are the test's, on the loopback, and
// hand them out with the Expiration the test sets: no test can wait for a
// real expiry.
func TestS3CredentialsThatRenew(t *testing.T) {
	s3 := testenv.MinIO(t)
	dest, _ := bucket(t, true)
	access, secret, token := testenv.MinIOSession(t, fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::%[1]s", "arn:aws:s3:::%[1]s/*"]}]}`, dest.cfg.Bucket))
	const past, later = "2000-01-01T00:00:00Z", "2099-01-01T00:00:00Z"
	var (
		mu               sync.Mutex
		secretNow, until string
	)
	state := filepath.Join(t.TempDir(), "credentials.json")
	issued := func() (string, string) {
		mu.Lock()
		defer mu.Unlock()
		return secretNow, until
	}
	issue := func(secret, expires string) {
		mu.Lock()
		secretNow, until = secret, expires
		mu.Unlock()
		b, _ := json.Marshal(map[string]any{"Version": 1, "AccessKeyId": access, "SecretAccessKey": secret, "SessionToken": token, "Expiration": expires})
		if err := os.WriteFile(state, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"STARMIG_S3_ACCESS_KEY", "STARMIG_S3_SECRET_KEY", "STARMIG_S3_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL_STS",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("STARMIG_S3_ENDPOINT", "http://"+s3.Endpoint)

	for _, src := range []struct {
		name, from string
		// setup sets the variables that name the source, and returns how
		// many times it has given credentials, and what makes it unable
		// to give them.
		setup func(t *testing.T) (given func() int, breaks func())
	}{
		{"credential_process", `the credential_process of profile "vault" in `, func(t *testing.T) (func() int, func()) {
			config, runs, does := credentialProcess(t)
			t.Setenv("AWS_CONFIG_FILE", config)
			t.Setenv("AWS_PROFILE", "vault")
			does("cat \"" + state + "\"\n")
			return runs, func() { does("echo 'the vault is sealed' >&2\nexit 3\n") }
		}},
		{"container endpoint", "the container's credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)", func(t *testing.T) (func() int, func()) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "container-token" {
					http.Error(w, "wrong token", http.StatusForbidden)
					return
				}
				n.Add(1)
				secret, until := issued()
				_ = json.NewEncoder(w).Encode(map[string]any{"AccessKeyId": access, "SecretAccessKey": secret, "Token": token, "Expiration": until})
			}))
			t.Cleanup(srv.Close)
			t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/v2/credentials")
			t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")
			return func() int { return int(n.Load()) }, func() { t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "another-token") }
		}},
		{"web identity", "the web identity token in ", func(t *testing.T) (func() int, func()) {
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte("eyJ.web-identity.token"), 0o600); err != nil {
				t.Fatal(err)
			}
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" ||
					r.PostForm.Get("WebIdentityToken") != "eyJ.web-identity.token" || r.PostForm.Get("RoleArn") != "arn:aws:iam::111122223333:role/verifier" {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>The web identity token is not valid.</Message></Error></ErrorResponse>`)
					return
				}
				n.Add(1)
				secret, until := issued()
				fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials>`+
					`<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration>`+
					`</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`, access, secret, token, until)
			}))
			t.Cleanup(srv.Close)
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file)
			t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/verifier")
			t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
			return func() int { return int(n.Load()) }, func() {
				if err := os.WriteFile(file, []byte("eyJ.expired.token"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(src.name, func(t *testing.T) {
			given, breaks := src.setup(t)
			store := func() *S3Store {
				t.Helper()
				cfg, err := S3ConfigFromEnv(os.Getenv)
				if err != nil || cfg.Provider == nil || !strings.HasPrefix(cfg.CredentialsFrom, src.from) {
					t.Fatalf("credentials from %q (%v), want from %q", cfg.CredentialsFrom, err, src.from)
				}
				cfg.Bucket, cfg.Prefix = dest.cfg.Bucket, "star1"
				st, err := NewS3Store(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			issue(secret, past)
			st := store()
			if err := use(t, st, "renew/"+src.name+"/expired"); err != nil {
				t.Fatal(err)
			}
			n := given()
			if n < 3 {
				t.Errorf("credentials that had expired were given %d times for a put, a read and a listing, want at each request", n)
			}
			issue(secret, later)
			if err := use(t, st, "renew/"+src.name+"/lasting"); err != nil {
				t.Fatal(err)
			}
			if given() != n+1 {
				t.Errorf("credentials that last were given %d times more, want once", given()-n)
			}

			issue("not-the-secret", later)
			err := use(t, store(), "renew/"+src.name+"/refused")
			if err == nil || !strings.Contains(err.Error(), "the storage refused the credentials; check "+src.from) || strings.Contains(err.Error(), "not-the-secret") {
				t.Errorf("credentials the storage refuses: %v; want the source named", err)
			}
			breaks()
			err = use(t, store(), "renew/"+src.name+"/unable")
			if err == nil || !strings.Contains(err.Error(), "S3 credentials from "+src.from) {
				t.Errorf("a source that cannot give credentials: %v; want it named", err)
			}
		})
	}
}

// use puts, reads and lists an object of st.
func use(t *testing.T, st *S3Store, key string) error {
	ctx := context.Background()
	body := []byte("renewed")
	if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), time.Now().Add(time.Hour)); err != nil {
		return err
	}
	r, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, body) {
		t.Errorf("%s reads %q", key, got)
	}
	return st.Keys(ctx, "renew/", func(string, int64) error { return nil })
}

// TestAContainerCredentialsEndpoint: the endpoint's token is read anew
// from its file at each request, as EKS turns it; the token is sent in
// clear only to this machine or where ECS and EKS serve the endpoint.
func TestAContainerCredentialsEndpoint(t *testing.T) {
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent = append(sent, r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"AccessKeyId": "ASIAPOD", "SecretAccessKey": "pod-secret", "Token": "pod-token", "Expiration": "2000-01-01T00:00:00Z"}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	env := map[string]string{"STARMIG_S3_ENDPOINT": "s3.host.example", "HOME": t.TempDir(),
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file}
	cfg, err := S3ConfigFromEnv(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.New(namedProvider{cfg.Provider, cfg.CredentialsFrom})
	for _, token := range []string{"first", "turned"} {
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if v, err := creds.GetWithContext(&credentials.CredContext{}); err != nil || v.AccessKeyID != "ASIAPOD" || v.SessionToken != "pod-token" {
			t.Fatalf("credentials %+v (%v)", v, err)
		}
	}
	if strings.Join(sent, " ") != "first turned" {
		t.Errorf("the endpoint was sent the tokens %q, want the file's at each request", sent)
	}

	env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://credentials.example/v1"
	cfg, err = S3ConfigFromEnv(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	_, err = credentials.New(namedProvider{cfg.Provider, cfg.CredentialsFrom}).GetWithContext(&credentials.CredContext{})
	if err == nil || !strings.Contains(err.Error(), "http://credentials.example/v1 is not an https URL, nor an http one of this machine") || len(sent) != 2 {
		t.Errorf("an endpoint elsewhere over http: %v", err)
	}
}

// TestADefaultProfileOfSingleSignOn: a default profile that asks for
// single sign-on, which starmig leaves to the AWS command line, is
// refused with the advice, unless the platform gives credentials, as it
// does to a job in a container where the AWS command line set up its
// user's files.
func TestADefaultProfileOfSingleSignOn(t *testing.T) {
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte("[default]\nsso_session = host\nsso_account_id = 111122223333\nsso_role_name = Verifier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"STARMIG_S3_ENDPOINT": "s3.host.example", "HOME": home}
	get := func(name string) string { return env[name] }
	if _, err := S3ConfigFromEnv(get); err == nil || !strings.Contains(err.Error(), "credential_process = aws configure export-credentials --profile default --format process") {
		t.Errorf("a default profile of single sign-on: %v", err)
	}
	env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:9/v1"
	if cfg, err := S3ConfigFromEnv(get); err != nil || cfg.Provider == nil || !strings.HasPrefix(cfg.CredentialsFrom, "the container's") {
		t.Errorf("with a container's endpoint beside it: credentials from %q (%v)", cfg.CredentialsFrom, err)
	}
	env["AWS_PROFILE"] = "default"
	if _, err := S3ConfigFromEnv(get); err == nil || !strings.Contains(err.Error(), "asks for single sign-on") {
		t.Errorf("the profile named: %v, want it refused with the advice", err)
	}
}
