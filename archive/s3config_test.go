package archive

import (
	"maps"
	"os"
	"os/user"
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
	// The AWS command line's config file: [profile NAME] sections, and
	// [default].
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte(`[default]
region = eu-north-1

[profile verifier]
aws_access_key_id = SHADOWED
aws_secret_access_key = shadowed-secret

[profile configured]
aws_access_key_id = CONFIGKEY
aws_secret_access_key = config-secret

[profile sso]
sso_session = host
sso_account_id = 111122223333
sso_role_name = Verifier

[profile role]
role_arn = arn:aws:iam::111122223333:role/verifier
source_profile = default
`), 0o600); err != nil {
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
		// As the AWS command line, starmig expands variables and a ~ in the
		// files' paths: a service's unit or a container's environment
		// gives them as written.
		{"a file named with ~", map[string]string{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": "~/.aws/credentials", "AWS_PROFILE": "verifier"}, "VERIFIERKEY", "verifier-secret", "verifier-token", ""},
		{"a file named with variables", map[string]string{"HOME": t.TempDir(), "SITE": filepath.Dir(other), "AWS_SHARED_CREDENTIALS_FILE": "${SITE}/$NAME", "NAME": filepath.Base(other), "AWS_PROFILE": "site"}, "SITEKEY", "site-secret", "", ""},
		{"a variable not set stays", map[string]string{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": "~/$NOT_SET/credentials"}, "", "", "", `S3 credentials of profile "default" in ` + filepath.Join(home, "$NOT_SET", "credentials") + ": open "},
		{"keys in the environment win", map[string]string{"HOME": home, "STARMIG_S3_ACCESS_KEY": "ENVKEY", "STARMIG_S3_SECRET_KEY": "env-secret"}, "ENVKEY", "env-secret", "", ""},
		{"Windows' home", map[string]string{"USERPROFILE": home}, "DEFAULTKEY", "default-secret", "", ""},
		{"no file, no keys", map[string]string{"HOME": t.TempDir()}, "", "", "", "no S3 credentials: set STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY"},
		{"a profile that is not there", map[string]string{"HOME": home, "AWS_PROFILE": "operator"}, "", "", "", `S3 credentials of profile "operator" in ` + file + " or " + filepath.Join(home, ".aws", "config") + ": no such profile there"},
		{"a file that is not there", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none")}, "", "", "", `S3 credentials of profile "default" in ` + filepath.Join(home, "none") + ": open "},
		{"half a key pair", map[string]string{"HOME": home, "AWS_PROFILE": "half"}, "", "", "", "want both aws_access_key_id and aws_secret_access_key"},
		{"not a credentials file", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": broken}, "", "", "", "not in the form of an AWS credentials file"},
		{"keys in the config file", map[string]string{"HOME": home, "AWS_PROFILE": "configured"}, "CONFIGKEY", "config-secret", "", ""},
		{"the credentials file's keys win", map[string]string{"HOME": home, "AWS_PROFILE": "verifier"}, "VERIFIERKEY", "verifier-secret", "verifier-token", ""},
		{"another config file", map[string]string{"HOME": t.TempDir(), "AWS_CONFIG_FILE": filepath.Join(home, ".aws", "config"), "AWS_PROFILE": "configured"}, "CONFIGKEY", "config-secret", "", ""},
		{"a config file that is not there", map[string]string{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none")}, "", "", "", `S3 credentials of profile "default" in ` + filepath.Join(home, "none") + ": open "},
		{"single sign-on", map[string]string{"HOME": home, "AWS_PROFILE": "sso"}, "", "", "", "the profile asks for single sign-on (sso_session), which starmig does not do itself; give starmig a profile of its own with credential_process = aws configure export-credentials --profile sso --format process"},
		{"a role to assume", map[string]string{"HOME": home, "AWS_PROFILE": "role"}, "", "", "", "the profile asks for a role to assume (role_arn)"},
		{"a profile in neither file", map[string]string{"HOME": t.TempDir(), "AWS_PROFILE": "verifier"}, "", "", "", `S3 credentials of profile "verifier": neither`},
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
		// A refusal of the profile's keys names the profile and its file.
		fromEnv := c.vars["STARMIG_S3_ACCESS_KEY"] != ""
		if from := cfg.CredentialsFrom; fromEnv != (from == "") || !fromEnv && !strings.HasPrefix(from, `the profile "`) {
			t.Errorf("%s: the credentials are said to come from %q", c.what, from)
		}
	}
}

// TestAProfileIsReadAsTheAWSCommandLineReadsIt: a value of a profile is
// taken whole, as the AWS command line takes it: a secret of MinIO's may
// hold '#' or ';', quotes or a backslash at its end, and a
// credential_process is a line of the shell, '#' and ';' and all. Only a
// line that begins with '#' or ';' is a comment, and a section's line
// may end with one. Key names are read in any case.
func TestAProfileIsReadAsTheAWSCommandLineReadsIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte(`[minio] # the host site's MinIO
; its keys
AWS_Access_Key_ID = SITEKEY
aws_secret_access_key = s#cr;t "x\

[vault]
# a vault hands the keys out
credential_process = vault-creds --role verifier; echo '#done' >&2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(profile string) S3Config {
		t.Helper()
		cfg, err := S3ConfigFromEnv(func(name string) string {
			return map[string]string{"STARMIG_S3_ENDPOINT": "s3.host.example", "AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": profile, "HOME": t.TempDir()}[name]
		})
		if err != nil {
			t.Fatalf("profile %s: %v", profile, err)
		}
		return cfg
	}
	if cfg := read("minio"); cfg.AccessKey != "SITEKEY" || cfg.SecretKey != `s#cr;t "x\` {
		t.Errorf("keys %q, %q; want SITEKEY and the secret whole", cfg.AccessKey, cfg.SecretKey)
	}
	p, ok := read("vault").Provider.(*processCredentials)
	if want := `vault-creds --role verifier; echo '#done' >&2`; !ok || p.command != want {
		t.Errorf("credential_process %+v, want the line %q whole", p, want)
	}
}

// TestAProfileFileIsReadAsTheAWSCommandLineReadsIt: the rest of the
// AWS command line's reading of its files. A value between backticks or
// triple quotes is taken with them, and an unclosed one is a value like
// any other; "key: value" is a key; the nested settings of a config
// file's "s3 =" are that key's and no one else's; a [DEFAULT] section's
// keys are every profile's where it does not set them; a config file's
// [profile  dev ] is the profile dev. A file that the AWS command line
// refuses is refused too, naming the line by its number and quoting
// nothing of it; so is a key of starmig's that goes on over more lines.
func TestAProfileFileIsReadAsTheAWSCommandLineReadsIt(t *testing.T) {
	read := func(t *testing.T, credentials, config, profile string) (S3Config, error) {
		t.Helper()
		dir := t.TempDir()
		env := map[string]string{"STARMIG_S3_ENDPOINT": "s3.host.example", "AWS_PROFILE": profile, "HOME": t.TempDir(),
			"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"), "AWS_CONFIG_FILE": filepath.Join(dir, "config")}
		for name, body := range map[string]string{"credentials": credentials, "config": config} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return S3ConfigFromEnv(func(name string) string { return env[name] })
	}
	for _, c := range []struct {
		what, credentials, config, profile string
		access, secret, token              string
	}{
		{"backticks", "[p]\naws_access_key_id = `AK`\naws_secret_access_key = `a`b`\n", "", "p", "`AK`", "`a`b`", ""},
		{"an unclosed backtick", "[p]\naws_access_key_id = AK\naws_secret_access_key = `abc\naws_session_token = tok\n", "", "p", "AK", "`abc", "tok"},
		{"triple quotes", "[p]\naws_access_key_id = \"\"\"AK\"\"\"\naws_secret_access_key = \"\"\"abc\n", "", "p", `"""AK"""`, `"""abc`, ""},
		{"a colon", "[p]\naws_access_key_id: AK\naws_secret_access_key:s=x:y\n", "", "p", "AK", "s=x:y", ""},
		{"nested s3 settings", "", "[profile p]\ns3 =\n  addressing_style = path\n  aws_secret_access_key = nested\n\n  max_concurrent_requests = 4\naws_access_key_id = AK\naws_secret_access_key = s\n", "p", "AK", "s", ""},
		{"[DEFAULT]", "[DEFAULT]\naws_secret_access_key = shared\naws_session_token = tok\n[p]\naws_access_key_id = AK\naws_session_token = own\n", "", "p", "AK", "shared", "own"},
		{"a config section in its words", "", "[profile  p ]\naws_access_key_id = AK\naws_secret_access_key = s\n", "p", "AK", "s", ""},
		{"a config section's name in quotes", "", "[profile 'host site']\naws_access_key_id = AK\naws_secret_access_key = s\n", "host site", "AK", "s", ""},
		{"[profile default] in the config file", "[profile default]\naws_access_key_id = NOT\naws_secret_access_key = read\n",
			"[profile default]\naws_access_key_id = AK\naws_secret_access_key = s\n", "default", "AK", "s", ""},
		{"a comment indented", "[p]\naws_access_key_id = AK\n   # aws_access_key_id = OLD\naws_secret_access_key = s\n", "", "p", "AK", "s", ""},
	} {
		t.Run(c.what, func(t *testing.T) {
			cfg, err := read(t, c.credentials, c.config, c.profile)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AccessKey != c.access || cfg.SecretKey != c.secret || cfg.SessionToken != c.token {
				t.Errorf("keys %q, %q, %q; want %q, %q, %q", cfg.AccessKey, cfg.SecretKey, cfg.SessionToken, c.access, c.secret, c.token)
			}
		})
	}
	const secret = "wJalrXUtnFEMI"
	for _, c := range []struct{ what, credentials, want string }{
		{"a key set twice", "[p]\naws_access_key_id = AK\naws_secret_access_key = " + secret + "\nAWS_Secret_Access_Key = " + secret + "\n", "line 4 sets again a key its section set before"},
		{"a section begun twice", "[p]\naws_access_key_id = AK\n\n[p]\naws_secret_access_key = " + secret + "\n", "line 4 begins again the section of line 1"},
		{"a line before any section", "aws_secret_access_key = " + secret + "\n[p]\n", "line 1 comes before any [section]"},
		{"a line that is no key", "[p]\naws_access_key_id = AK\n" + secret + "\n", "line 3 is neither a [section], a key = value line nor a comment"},
		{"a secret over two lines", "[p]\naws_access_key_id = AK\naws_secret_access_key = wJalr\n  XUtnFEMI\n", "the value of aws_secret_access_key goes on over more than one line"},
		{"a command over two lines", "[p]\ncredential_process = vault-creds\n  --role " + secret + "\n", "the value of credential_process goes on over more than one line"},
	} {
		t.Run(c.what, func(t *testing.T) {
			_, err := read(t, c.credentials, "", "p")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "XUt") || strings.Contains(err.Error(), "role") {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
}

// TestS3SettingsFromAProfile: where STARMIG_S3_ENDPOINT gives no
// endpoint, it is taken as the AWS command line takes a configured one:
// AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the profile of the
// config file, from the s3 settings of the [services NAME] section the
// profile names, else its endpoint_url; with the profile's, its region
// and CA bundle where the environment gives none. The endpoint of STS,
// where a web identity is exchanged, is taken in the same order. None is
// taken where AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, or else the profile's
// ignore_configured_endpoint_urls, is true. The credentials file holds
// credentials only.
func TestS3SettingsFromAProfile(t *testing.T) {
	dir := t.TempDir()
	credentials, config := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")
	if err := os.WriteFile(credentials, []byte("[default]\naws_access_key_id = AK\naws_secret_access_key = s\nendpoint_url = https://not.read\nregion = not-read\n"+
		"[services]\naws_access_key_id = AK\naws_secret_access_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(`[default]
endpoint_url = http://minio.host.example:9000
region = eu-north-1
ca_bundle = /etc/host-ca.pem

[profile services]
services = host
endpoint_url = https://overridden.example

[services host]
s3 =
  endpoint_url = https://s3.host.example/
sts =
  endpoint_url = https://sts.host.example

[profile none]
region = eu-west-1

[profile lost]
services = missing

[profile sts]
services = host
endpoint_url = https://global.host.example

[profile global]
endpoint_url = https://global.host.example

[profile ignoring]
ignore_configured_endpoint_urls = True
endpoint_url = https://global.host.example

[profile yes]
ignore_configured_endpoint_urls = yes
endpoint_url = https://global.host.example
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what                     string
		env                      map[string]string
		endpoint, region, caFile string
		secure                   bool
		err                      string
		from                     string // what the credentials come from, where not the keys "AK"
	}{
		{"the profile's settings", nil, "minio.host.example:9000", "eu-north-1", "/etc/host-ca.pem", false, "", ""},
		{"the services' s3 endpoint", map[string]string{"AWS_PROFILE": "services"}, "s3.host.example", "", "", true, "", ""},
		{"the environment first", map[string]string{"AWS_ENDPOINT_URL": "https://env.example", "AWS_REGION": "env-1", "AWS_CA_BUNDLE": "/env.pem"}, "env.example", "env-1", "/env.pem", true, "", ""},
		{"keys in the environment", map[string]string{"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}, "minio.host.example:9000", "eu-north-1", "/etc/host-ca.pem", false, "", ""},
		// The region and the CA bundle go with the profile's endpoint: a
		// region of another storage's would fail this one's signatures.
		{"an endpoint in the environment", map[string]string{"STARMIG_S3_ENDPOINT": "https://other.example"}, "other.example", "", "", true, "", ""},
		{"no endpoint anywhere", map[string]string{"AWS_PROFILE": "none"}, "", "", "", false, "no S3 endpoint: set STARMIG_S3_ENDPOINT (or AWS_ENDPOINT_URL), or endpoint_url in the profile of ~/.aws/config", ""},
		{"services that are not there", map[string]string{"AWS_PROFILE": "lost"}, "", "", "", false, `S3 settings of profile "lost" in ` + config + ": its services key names [services missing], which the file does not have", ""},
		{"a config file not there, keys in the environment", map[string]string{"AWS_CONFIG_FILE": config + ".none", "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}, "", "", "", false, `S3 settings of profile "default" in ` + config + ".none: open ", ""},
		{"the S3 variable before the global one", map[string]string{"AWS_ENDPOINT_URL": "https://env.example", "AWS_ENDPOINT_URL_S3": "http://s3-env.example"}, "s3-env.example", "", "", false, "", ""},
		{"the global variable before the services'", map[string]string{"AWS_PROFILE": "services", "AWS_ENDPOINT_URL": "https://env.example"}, "env.example", "", "", true, "", ""},

		{"STS from the services' sts", map[string]string{"AWS_PROFILE": "sts", "AWS_WEB_IDENTITY_TOKEN_FILE": "/token"}, "s3.host.example", "", "", true, "", "exchanged at https://sts.host.example"},
		{"STS from the profile's endpoint", map[string]string{"AWS_PROFILE": "global", "AWS_WEB_IDENTITY_TOKEN_FILE": "/token"}, "global.host.example", "", "", true, "", "exchanged at https://global.host.example"},
		{"STS from the global variable", map[string]string{"AWS_PROFILE": "sts", "AWS_WEB_IDENTITY_TOKEN_FILE": "/token", "AWS_ENDPOINT_URL": "https://env.example"}, "env.example", "", "", true, "", "exchanged at https://env.example"},
		{"STS from its own variable", map[string]string{"AWS_PROFILE": "sts", "AWS_WEB_IDENTITY_TOKEN_FILE": "/token", "AWS_ENDPOINT_URL": "https://env.example", "AWS_ENDPOINT_URL_STS": "https://sts-env.example"}, "env.example", "", "", true, "", "exchanged at https://sts-env.example"},

		{"ignored by the variable", map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL": "https://env.example"}, "", "", "", false, "no S3 endpoint: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true, so the AWS_ENDPOINT_URL variables and the config file's endpoints are not taken; set STARMIG_S3_ENDPOINT", ""},
		{"starmig's own endpoint not ignored", map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE", "STARMIG_S3_ENDPOINT": "https://other.example"}, "other.example", "", "", true, "", ""},
		{"ignored by the profile", map[string]string{"AWS_PROFILE": "ignoring", "AWS_ENDPOINT_URL": "https://env.example", "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}, "", "", "", false, "no S3 endpoint: the profile's ignore_configured_endpoint_urls is true", ""},
		{"the variable before the profile", map[string]string{"AWS_PROFILE": "ignoring", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false", "AWS_ENDPOINT_URL": "https://env.example", "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "env-secret"}, "env.example", "", "", true, "", ""},
		{"STS ignored", map[string]string{"AWS_PROFILE": "ignoring", "STARMIG_S3_ENDPOINT": "https://other.example", "AWS_WEB_IDENTITY_TOKEN_FILE": "/token", "AWS_ENDPOINT_URL_STS": "https://sts-env.example"}, "other.example", "", "", true, "", "exchanged at AWS STS"},
		{"neither true nor false in the variable", map[string]string{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "1"}, "", "", "", false, `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "1" is neither true nor false`, ""},
		{"neither true nor false in the profile", map[string]string{"AWS_PROFILE": "yes"}, "", "", "", false, `S3 settings of profile "yes" in ` + config + `: ignore_configured_endpoint_urls: "yes" is neither true nor false`, ""},
	} {
		t.Run(c.what, func(t *testing.T) {
			env := map[string]string{"HOME": t.TempDir(), "AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config}
			maps.Copy(env, c.env)
			cfg, err := S3ConfigFromEnv(func(name string) string { return env[name] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Endpoint != c.endpoint || cfg.Region != c.region || cfg.CAFile != c.caFile || cfg.Secure != c.secure {
				t.Errorf("endpoint %q, region %q, CA %q, https %v; want %q, %q, %q, %v", cfg.Endpoint, cfg.Region, cfg.CAFile, cfg.Secure, c.endpoint, c.region, c.caFile, c.secure)
			}
			switch want := env["AWS_ACCESS_KEY_ID"]; {
			case c.from != "":
				if !strings.Contains(cfg.CredentialsFrom, c.from) {
					t.Errorf("credentials from %q, want %q", cfg.CredentialsFrom, c.from)
				}
			case want != "" && cfg.AccessKey != want || want == "" && cfg.AccessKey != "AK":
				t.Errorf("access key %q", cfg.AccessKey)
			}
		})
	}
}

// FuzzAProfileValueIsReadWhole: a secret written on its line of a
// profile is read back as written, as the AWS command line reads it
// (white space around it aside), whatever characters it holds, backticks
// and triple quotes included. A file that is not in the form of one is
// refused without quoting it.
func FuzzAProfileValueIsReadWhole(f *testing.F) {
	f.Add("s#cr;t \"x\\", "[default]\naws_secret_access_key wJalrXUtnFEMI\n")
	f.Add(`"quoted"`, "[a]\nb = c\n[[d]")
	f.Add("=a:b=", "\xef\xbb\xbf[default]\nx=1")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, secret, file string) {
		path := filepath.Join(dir, "credentials")
		secret = strings.TrimSpace(secret)
		if secret != "" && !strings.ContainsAny(secret, "\r\n") {
			if err := os.WriteFile(path, []byte("[p]\naws_secret_access_key = "+secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := profileSection(path, "p")
			if err != nil {
				t.Fatalf("secret %q: %v", secret, err)
			}
			if got := s["aws_secret_access_key"]; got != secret {
				t.Errorf("secret %q read as %q", secret, got)
			}
		}
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := profileSection(path, "default")
		if err != nil && len(file) >= 8 && strings.Contains(err.Error(), file) {
			t.Errorf("the error quotes the file: %v", err)
		}
	})
}

// profileSection reads a profile's section of an AWS credentials or config
// file, as fromProfile does.
func profileSection(path, section string) (awsProfile, error) {
	sections, err := readAWSFile(path)
	if err != nil {
		return nil, err
	}
	return findSection(sections, section)
}

// TestAWSFilePathsExpand: the path of an AWS file that a variable gives
// is expanded as the AWS command line expands it (Python's
// os.path.expandvars, then expanduser).
func TestAWSFilePathsExpand(t *testing.T) {
	env := map[string]string{"HOME": "/home/op/", "SITE": "host", "EMPTY": ""}
	get := func(names ...string) string {
		for _, n := range names {
			if v := env[n]; v != "" {
				return v
			}
		}
		return ""
	}
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	for path, want := range map[string]string{
		"":                        "",
		"/etc/aws/config":         "/etc/aws/config",
		"~":                       "/home/op",
		"~/.aws/$SITE-config":     "/home/op/.aws/host-config",
		"${SITE}/a/../config":     "host/a/../config",
		"$NOT_SET/$EMPTY/${}/x":   "$NOT_SET/$EMPTY/${}/x",
		"$HOME/config":            "/home/op//config",
		"a/~/config":              "a/~/config",
		"~no-such-user-here/x":    "~no-such-user-here/x",
		"~" + me.Username + "/.a": strings.TrimRight(me.HomeDir, "/") + "/.a",
	} {
		if got := expandAWSPath(path, get); got != want {
			t.Errorf("%q expanded to %q, want %q", path, got, want)
		}
	}
}
