package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestS3CredentialsFromAProfile: without keys in the environment, the
// keys come from a profile of the AWS shared credentials file, as the AWS
// command line takes them: the default profile of ~/.aws/credentials, or
// the one AWS_PROFILE names, in the file AWS_SHARED_CREDENTIALS_FILE
// names. Keys in the environment win. A profile or file that a variable
// names and that is not there is an error that names both; a file that
// is not in the form of one is refused without quoting its lines.
func TestS3CredentialsFromAProfile(t *testing.T) {
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, ".aws", "credentials")
	if err := os.WriteFile(file, []byte(`# the host site's storage
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = default-secret

[verifier]
aws_access_key_id=VERIFIERKEY
aws_secret_access_key=verifier-secret
aws_session_token=verifier-token

[half]
aws_access_key_id = HALFKEY
`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "site-credentials")
	if err := os.WriteFile(other, []byte("[site]\naws_access_key_id = SITEKEY\naws_secret_access_key = site-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("[default]\naws_secret_access_key wJalrXUtnFEMI\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(vars map[string]string) (S3Config, error) {
		vars["STARMIG_S3_ENDPOINT"] = "s3.host.example"
		return S3ConfigFromEnv(func(name string) string { return vars[name] })
	}
	for _, c := range []struct {
		what                string
		vars                map[string]string
		access, secret, tok string
		err                 string
	}{
		{"the default profile", map[string]string{"HOME": home}, "DEFAULTKEY", "default-secret", "", ""},
		{"a named profile", map[string]string{"HOME": home, "AWS_PROFILE": "verifier"}, "VERIFIERKEY", "verifier-secret", "verifier-token", ""},
		{"the token goes with the profile's keys", map[string]string{"HOME": home, "AWS_PROFILE": "verifier", "STARMIG_S3_SESSION_TOKEN": "stale"}, "VERIFIERKEY", "verifier-secret", "verifier-token", ""},
		{"another file", map[string]string{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": other, "AWS_PROFILE": "site"}, "SITEKEY", "site-secret", "", ""},
		{"keys in the environment win", map[string]string{"HOME": home, "STARMIG_S3_ACCESS_KEY": "ENVKEY", "STARMIG_S3_SECRET_KEY": "env-secret"}, "ENVKEY", "env-secret", "", ""},
		{"Windows' home", map[string]string{"USERPROFILE": home}, "DEFAULTKEY", "default-secret", "", ""},
		{"no file, no keys", map[string]string{"HOME": t.TempDir()}, "", "", "", "no S3 credentials: set STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY"},
		{"a profile that is not there", map[string]string{"HOME": home, "AWS_PROFILE": "operator"}, "", "", "", `S3 credentials of profile "operator" in ` + file + ": no such profile in the file"},
		{"a file that is not there", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none")}, "", "", "", `S3 credentials of profile "default" in ` + filepath.Join(home, "none") + ": open "},
		{"half a key pair", map[string]string{"HOME": home, "AWS_PROFILE": "half"}, "", "", "", "want both aws_access_key_id and aws_secret_access_key"},
		{"not a credentials file", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": broken}, "", "", "", "not in the form of an AWS credentials file"},
	} {
		cfg, err := config(c.vars)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error saying %q", c.what, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "wJalr") {
				t.Errorf("%s: the error quotes a secret: %v", c.what, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if cfg.AccessKey != c.access || cfg.SecretKey != c.secret || cfg.SessionToken != c.tok {
			t.Errorf("%s: keys %q, %q, token %q; want %q, %q, %q", c.what, cfg.AccessKey, cfg.SecretKey, cfg.SessionToken, c.access, c.secret, c.tok)
		}
	}
}
