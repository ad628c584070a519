package archive

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3ConfigFromEnv reads STARMIG_S3_ENDPOINT, STARMIG_S3_ACCESS_KEY,
// STARMIG_S3_SECRET_KEY, STARMIG_S3_SESSION_TOKEN, STARMIG_S3_REGION,
// STARMIG_S3_CA_FILE and STARMIG_S3_INSECURE, each falling back to the usual
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
// AWS_REGION. The endpoint may carry its scheme (http:// or https://);
// https is the default.
//
// Where STARMIG_S3_ENDPOINT does not give the endpoint, it is taken as
// the AWS command line and SDKs take a configured one: AWS_ENDPOINT_URL_S3,
// else AWS_ENDPOINT_URL, else the profile of the config file
// (endpointsFrom); none of these where AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
// or else the profile's ignore_configured_endpoint_urls, is true.
// STARMIG_S3_ENDPOINT, starmig's own, is never ignored, as the AWS command
// line's --endpoint-url is not.
//
// Without keys in the environment, the credentials come, as the AWS
// command line and SDKs take them, from a profile of the AWS files
// (fromProfile: its keys, or its credential_process), else from a web
// identity token or a container's credentials endpoint that the platform
// names in the environment (fromPlatform). The last three give
// credentials that expire, and are asked again before they do, so that a
// verification that reads for hours outlives them.
func S3ConfigFromEnv(env func(string) string) (S3Config, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v := env(n); v != "" {
				return v
			}
		}
		return ""
	}
	c := S3Config{
		Endpoint:     get("STARMIG_S3_ENDPOINT"),
		AccessKey:    get("STARMIG_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
		SecretKey:    get("STARMIG_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
		SessionToken: get("STARMIG_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
		Region:       get("STARMIG_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
		CAFile:       get("STARMIG_S3_CA_FILE", "AWS_CA_BUNDLE"),
		Secure:       true,
	}
	ignore, err := parseAWSBool(get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
	if err != nil {
		return c, fmt.Errorf("archive: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: %w", err)
	}
	configured := configuredEndpoints{ignore: ignore, ignoreFrom: "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		s3: get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"), sts: get("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")}
	var profileErr error
	if c.AccessKey == "" && c.SecretKey == "" || c.Endpoint == "" && ignore != isTrue {
		profileErr = c.fromProfile(get, &configured)
		var advice unnamedProfileError
		if profileErr != nil && !errors.As(profileErr, &advice) {
			return c, profileErr
		}
	}
	sts := ""
	if configured.ignore != isTrue {
		sts = configured.sts
		if c.Endpoint == "" {
			c.Endpoint = configured.s3
		}
	}
	switch {
	case strings.HasPrefix(c.Endpoint, "http://"):
		c.Endpoint, c.Secure = strings.TrimPrefix(c.Endpoint, "http://"), false
	case strings.HasPrefix(c.Endpoint, "https://"):
		c.Endpoint = strings.TrimPrefix(c.Endpoint, "https://")
	}
	c.Endpoint = strings.TrimSuffix(c.Endpoint, "/")
	if v := get("STARMIG_S3_INSECURE"); v == "1" || v == "true" {
		c.Secure = false
	}
	if c.Endpoint == "" {
		if configured.ignore == isTrue {
			return c, fmt.Errorf("archive: no S3 endpoint: %s is true, so the AWS_ENDPOINT_URL variables and the config file's endpoints are not taken; set STARMIG_S3_ENDPOINT", configured.ignoreFrom)
		}
		return c, errors.New("archive: no S3 endpoint: set STARMIG_S3_ENDPOINT (or AWS_ENDPOINT_URL), or endpoint_url in the profile of ~/.aws/config (AWS_PROFILE, else default)")
	}
	if c.AccessKey == "" && c.SecretKey == "" {
		if c.Provider == nil {
			c.fromPlatform(get, sts)
		}
		if c.Provider == nil && profileErr != nil {
			return c, profileErr
		}
	}
	if c.Provider == nil && (c.AccessKey == "" || c.SecretKey == "") {
		return c, errors.New("archive: no S3 credentials: set STARMIG_S3_ACCESS_KEY and STARMIG_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), " +
			"or give them, as keys or a credential_process, in a profile of ~/.aws/credentials or ~/.aws/config (AWS_PROFILE, else default; AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), " +
			"or run where AWS_WEB_IDENTITY_TOKEN_FILE or AWS_CONTAINER_CREDENTIALS_FULL_URI gives them")
	}
	return c, nil
}

// configuredEndpoints are the endpoints configured for the AWS command
// line and SDKs, of S3 and of STS, and whether to ignore them.
type configuredEndpoints struct {
	ignore     awsBool
	ignoreFrom string // the variable, or the profile's key, that set ignore
	s3, sts    string
}

// awsBool is a setting of the AWS command line that may be true, false
// or not set.
type awsBool int

const (
	notSet awsBool = iota
	isFalse
	isTrue
)

// parseAWSBool reads a true or false setting, in any case of letters, as
// the AWS command line reads one. It takes any other value for false;
// starmig refuses it, since "1" or "yes" was meant for true.
func parseAWSBool(v string) (awsBool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return notSet, nil
	case "true":
		return isTrue, nil
	case "false":
		return isFalse, nil
	}
	return notSet, fmt.Errorf("%q is neither true nor false", v)
}

// errNoProfile says that no file read has a section of the profile.
var errNoProfile = errors.New("no such profile there")

// fromProfile takes the credentials from a profile of the AWS files, as
// the AWS command line does, when no variable gives them: AWS_PROFILE,
// else default, in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
// else ~/.aws/credentials) and the config file (AWS_CONFIG_FILE, else
// ~/.aws/config, where the profile's section is [profile NAME]). Keys come
// first, the credentials file's before the config file's; then a
// credential_process. The files keep the keys off the command line and
// out of the environment of every command. A file or profile that is not
// there is an error only when a variable names it; otherwise the caller
// says what to set. The config file's profile also gives what it
// configures of the endpoints (endpointsFrom).
func (c *S3Config) fromProfile(get func(...string) string, configured *configuredEndpoints) error {
	what := "S3 credentials"
	if c.AccessKey != "" || c.SecretKey != "" {
		what = "S3 settings" // the keys came from the environment
	}
	profile := get("AWS_PROFILE")
	named := profile != ""
	if profile == "" {
		profile = "default"
	}
	home := get("HOME", "USERPROFILE")
	type section struct {
		path   string
		keys   awsProfile
		all    map[string]awsProfile // every section of its file
		config bool                  // the config file, not the credentials file
	}
	var (
		found []section
		read  []string
	)
	for _, f := range []struct{ variable, name, section string }{
		{"AWS_SHARED_CREDENTIALS_FILE", "credentials", profile},
		{"AWS_CONFIG_FILE", "config", configSection(profile)},
	} {
		path := expandAWSPath(get(f.variable), get)
		if path == "" {
			if home == "" {
				continue
			}
			path = filepath.Join(home, ".aws", f.name)
		}
		all, err := readAWSFile(path)
		var keys awsProfile
		if err == nil {
			keys, err = findSection(all, f.section)
		}
		if errors.Is(err, errNoProfile) && f.name == "config" && profile == "default" {
			// The AWS command line takes [profile default] for [default].
			keys, err = findSection(all, "profile default")
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && get(f.variable) == "":
			continue
		case errors.Is(err, errNoProfile):
			read = append(read, path)
			continue
		case err != nil:
			return fmt.Errorf("archive: %s of profile %q in %s: %w", what, profile, path, err)
		}
		found = append(found, section{path, keys, all, f.name == "config"})
	}
	if len(found) == 0 {
		if named && len(read) > 0 {
			return fmt.Errorf("archive: %s of profile %q in %s: %w", what, profile, strings.Join(read, " or "), errNoProfile)
		}
		if named {
			return fmt.Errorf("archive: %s of profile %q: neither %s nor %s is there", what, profile,
				filepath.Join("~", ".aws", "credentials"), filepath.Join("~", ".aws", "config"))
		}
		return nil
	}
	for _, s := range found {
		if s.config {
			if err := c.endpointsFrom(s.keys, s.all, configured); err != nil {
				return fmt.Errorf("archive: S3 settings of profile %q in %s: %w", profile, s.path, err)
			}
		}
	}
	if c.AccessKey != "" || c.SecretKey != "" {
		return nil // the keys came from the environment
	}
	for _, s := range found {
		// A value that a deeper indented line goes on would reach the
		// storage, or the shell, with a line break in it.
		for _, key := range []string{"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "credential_process"} {
			if strings.Contains(s.keys[key], "\n") {
				return fmt.Errorf("archive: S3 credentials of profile %q in %s: the value of %s goes on over more than one line "+
					"(a line under it is indented deeper than its own); write it on its one line", profile, s.path, key)
			}
		}
	}
	for _, s := range found {
		access, secret := s.keys["aws_access_key_id"], s.keys["aws_secret_access_key"]
		switch {
		case access != "" && secret != "":
			// The token goes with the keys it was issued with.
			c.AccessKey, c.SecretKey, c.SessionToken = access, secret, s.keys["aws_session_token"]
			c.CredentialsFrom = fmt.Sprintf("the profile %q of %s", profile, s.path)
			return nil
		case access != "" || secret != "":
			return fmt.Errorf("archive: S3 credentials of profile %q in %s: want both aws_access_key_id and aws_secret_access_key", profile, s.path)
		}
	}
	for _, s := range found {
		if command := strings.TrimSpace(s.keys["credential_process"]); command != "" {
			c.Provider = &processCredentials{command: command, stderr: os.Stderr}
			c.CredentialsFrom = fmt.Sprintf("the credential_process of profile %q in %s", profile, s.path)
			return nil
		}
	}
	// What the AWS command line does itself for a profile and starmig
	// does not: it can hand its credentials over.
	for _, s := range found {
		for _, k := range []struct{ key, what string }{
			{"sso_session", "single sign-on"}, {"sso_start_url", "single sign-on"}, {"sso_role_name", "single sign-on"},
			{"role_arn", "a role to assume"}, {"web_identity_token_file", "a web identity"},
		} {
			if _, ok := s.keys[k.key]; ok {
				err := fmt.Errorf("archive: S3 credentials of profile %q in %s: the profile asks for %s (%s), which starmig does not do itself; "+
					"give starmig a profile of its own with credential_process = aws configure export-credentials --profile %s --format process, "+
					"and the AWS command line (version 2) gives it the credentials", profile, s.path, k.what, k.key, profile)
				if !named {
					// The platform may give them.
					return unnamedProfileError{err}
				}
				return err
			}
		}
	}
	return nil
}

// expandAWSPath expands, in the path of an AWS file a variable gives, the
// environment's variables ($NAME, ${NAME}; one not set stays as written)
// and then a ~ at its start, as the AWS command line does: a variable set
// where no shell expands it (a service's unit, a container's environment)
// may hold either.
func expandAWSPath(path string, get func(...string) string) string {
	path = awsVariable.ReplaceAllStringFunc(path, func(v string) string {
		name := strings.Trim(v[1:], "{}")
		if value := get(name); value != "" {
			return value
		}
		return v
	})
	if !strings.HasPrefix(path, "~") {
		return path
	}
	separator := func(r rune) bool { return r == '/' || r == filepath.Separator }
	name := path[1:]
	if i := strings.IndexFunc(name, separator); i >= 0 {
		name = name[:i]
	}
	home := ""
	if name == "" {
		home = get("HOME", "USERPROFILE")
	} else if u, err := user.Lookup(name); err == nil {
		home = u.HomeDir
	}
	if home == "" {
		return path
	}
	return strings.TrimRightFunc(home, separator) + path[1+len(name):]
}

// awsVariable is a variable in a path, as Python's os.path.expandvars
// finds one.
var awsVariable = regexp.MustCompile(`\$(\w+|\{[^}]*\})`)

// endpointsFrom takes from a profile of the config file what it
// configures of the endpoints, as the AWS command line does, where the
// environment does not: whether to ignore them
// (ignore_configured_endpoint_urls); the endpoint of S3 and of STS, each
// from its settings in the [services NAME] section the profile's
// services key names, else from the profile's endpoint_url. The region
// and the CA bundle go with the profile's endpoint of S3, where the
// environment does not give them: a region of a profile kept for another
// storage would be refused by this one's signature check, where minio-go
// otherwise asks the bucket's own.
func (c *S3Config) endpointsFrom(profile awsProfile, sections map[string]awsProfile, configured *configuredEndpoints) error {
	if configured.ignore == notSet {
		ignore, err := parseAWSBool(profile["ignore_configured_endpoint_urls"])
		if err != nil {
			return fmt.Errorf("ignore_configured_endpoint_urls: %w", err)
		}
		configured.ignore, configured.ignoreFrom = ignore, "the profile's ignore_configured_endpoint_urls"
	}
	if configured.ignore == isTrue {
		return nil
	}
	services := map[string]map[string]string{}
	if name := profile["services"]; name != "" {
		svc, err := findSection(sections, "services "+name)
		if err != nil {
			return fmt.Errorf("its services key names [services %s], which the file does not have", name)
		}
		for _, service := range []string{"s3", "sts"} {
			if services[service], err = nestedSettings(svc[service]); err != nil {
				return fmt.Errorf("the %s settings of [services %s]: %w", service, name, err)
			}
		}
	}
	if configured.sts == "" {
		configured.sts = cmp.Or(services["sts"]["endpoint_url"], profile["endpoint_url"])
	}
	if configured.s3 != "" || c.Endpoint != "" {
		return nil
	}
	configured.s3 = cmp.Or(services["s3"]["endpoint_url"], profile["endpoint_url"])
	if configured.s3 != "" {
		c.Region = cmp.Or(c.Region, profile["region"])
		c.CAFile = cmp.Or(c.CAFile, profile["ca_bundle"])
	}
	return nil
}

// unnamedProfileError is what fromProfile says of a profile that no
// variable named and that asks for what starmig does not do: the
// credentials may come from the platform all the same.
type unnamedProfileError struct{ error }

func (e unnamedProfileError) Unwrap() error { return e.error }

// configSection is the section of a profile in the AWS config file.
func configSection(profile string) string {
	if profile == "default" {
		return "default"
	}
	return "profile " + profile
}

// fromPlatform takes the credentials that a platform gives its machines'
// or containers' roles, where its variables name them, as the AWS SDKs
// do: a web identity token in a file (AWS_WEB_IDENTITY_TOKEN_FILE, with
// AWS_ROLE_ARN: Kubernetes on EKS, or any OpenID Connect platform),
// exchanged at the endpoint of STS configured (sts: AWS_ENDPOINT_URL_STS,
// else AWS_ENDPOINT_URL, else the profile's, as the AWS SDKs take it;
// MinIO's STS, for one), else at AWS STS; else a container's
// credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or
// _RELATIVE_URI, with
// AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE: ECS, EKS Pod
// Identity). The instance metadata of a virtual machine is not asked:
// starmig asks no address that nothing named.
func (c *S3Config) fromPlatform(get func(...string) string, sts string) {
	if file := get("AWS_WEB_IDENTITY_TOKEN_FILE"); file != "" {
		at := sts
		iam := &credentials.IAM{Endpoint: at, Region: c.Region}
		iam.EKSIdentity.TokenFile = file
		iam.EKSIdentity.RoleARN = get("AWS_ROLE_ARN")
		iam.EKSIdentity.RoleSessionName = get("AWS_ROLE_SESSION_NAME")
		if at == "" {
			at = "AWS STS"
		}
		c.Provider = iam
		c.CredentialsFrom = fmt.Sprintf("the web identity token in %s (AWS_WEB_IDENTITY_TOKEN_FILE), exchanged at %s", file, at)
		return
	}
	uri, variable := get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	if relative := get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); relative != "" {
		uri, variable = ecsEndpoint+relative, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	}
	if uri == "" {
		return
	}
	c.Provider = &containerCredentials{uri: uri, token: get("AWS_CONTAINER_AUTHORIZATION_TOKEN"), tokenFile: get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")}
	c.CredentialsFrom = "the container's credentials endpoint (" + variable + ")"
}

// ecsEndpoint is where a relative URI of the container's credentials
// endpoint points.
const ecsEndpoint = "http://169.254.170.2"

// containerCredentials asks a container's credentials endpoint, as the
// AWS SDKs do: a GET of its URI, with the authorization token (given, or
// read anew from its file each time, as EKS turns it), answered with JSON
// of AccessKeyId, SecretAccessKey, Token and Expiration. The token goes
// in clear over http only to this machine or to the addresses where ECS
// and EKS serve the endpoint. (minio-go's IAM provider takes the
// token for the name of its file when both variables are not set.)
type containerCredentials struct {
	renewal
	uri, token, tokenFile string
}

func (p *containerCredentials) Retrieve() (credentials.Value, error) {
	return p.RetrieveWithCredContext(nil)
}

func (p *containerCredentials) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	u, err := url.Parse(p.uri)
	if err != nil || u.Scheme != "https" && (u.Scheme != "http" || !containerHost(u.Hostname())) {
		return credentials.Value{}, fmt.Errorf("%s is not an https URL, nor an http one of this machine or of the endpoints of ECS and EKS (169.254.170.2, 169.254.170.23, fd00:ec2::23)", p.uri)
	}
	token := p.token
	if p.tokenFile != "" {
		b, err := os.ReadFile(p.tokenFile)
		if err != nil {
			return credentials.Value{}, fmt.Errorf("the authorization token (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE): %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, client := context.Background(), http.DefaultClient
	if cc != nil && cc.Context != nil {
		ctx = cc.Context
	}
	if cc != nil && cc.Client != nil {
		client = cc.Client
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.uri, nil)
	if err != nil {
		return credentials.Value{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return credentials.Value{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return credentials.Value{}, fmt.Errorf("%s answered %s", p.uri, resp.Status)
	}
	var got struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
		Expiration      *time.Time
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCredentialsText)).Decode(&got); err != nil {
		return credentials.Value{}, fmt.Errorf("%s did not answer with credentials in the AWS form: JSON with AccessKeyId, SecretAccessKey, Token and Expiration", p.uri)
	}
	if got.AccessKeyID == "" || got.SecretAccessKey == "" {
		return credentials.Value{}, fmt.Errorf("%s answered with no AccessKeyId or no SecretAccessKey", p.uri)
	}
	return credentials.Value{AccessKeyID: got.AccessKeyID, SecretAccessKey: got.SecretAccessKey, SessionToken: got.Token,
		Expiration: p.until(got.Expiration), SignerType: credentials.SignatureV4}, nil
}

// containerHost says whether a container's credentials endpoint may be
// asked over http at host: this machine, or where ECS and EKS serve it.
func containerHost(host string) bool {
	switch host {
	case "localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23":
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// namedProvider says where credentials come from when they cannot be
// had, and refuses credentials without a key or a secret.
type namedProvider struct {
	credentials.Provider
	from string
}

func (p namedProvider) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	v, err := p.Provider.RetrieveWithCredContext(cc)
	if err == nil && (v.AccessKeyID == "" || v.SecretAccessKey == "") {
		err = errors.New("no access key and secret came")
	}
	if err != nil {
		return credentials.Value{}, fmt.Errorf("S3 credentials from %s: %w", p.from, err)
	}
	return v, nil
}

func (p namedProvider) Retrieve() (credentials.Value, error) { return p.RetrieveWithCredContext(nil) }

// credentialsTimeout is how long a credential_process or a container's
// credentials endpoint may take, as the AWS SDK for Go gives a process.
const credentialsTimeout = time.Minute

// maxCredentialsText bounds what a credential_process may print, or an
// endpoint answer.
const maxCredentialsText = 64 << 10

// processCredentials runs a profile's credential_process as the AWS SDK
// for Go does, through the shell (sh -c, cmd.exe /C on Windows), and
// reads the credentials it prints: JSON of Version 1 with AccessKeyId,
// SecretAccessKey and, for temporary credentials, SessionToken and
// Expiration. What it writes to standard error goes to starmig's, and it
// reads starmig's standard input, so that it can ask for a second factor.
// Credentials with an Expiration are asked for again before they expire
// (when 80 % of their time is over); those without one, once. Nothing it
// prints is quoted in an error.
type processCredentials struct {
	renewal
	command string
	stderr  io.Writer
}

func (p *processCredentials) Retrieve() (credentials.Value, error) {
	return p.RetrieveWithCredContext(nil)
}

func (p *processCredentials) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	ctx := context.Background()
	if cc != nil && cc.Context != nil {
		ctx = cc.Context
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	shell, flag := "sh", "-c"
	if runtime.GOOS == "windows" {
		shell, flag = "cmd.exe", "/C"
	}
	cmd := exec.CommandContext(ctx, shell, flag, p.command)
	out := &boundedBuffer{max: maxCredentialsText}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, p.stderr
	if err := cmd.Run(); err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return credentials.Value{}, fmt.Errorf("the command did not end within %s", credentialsTimeout)
		case out.over:
			return credentials.Value{}, fmt.Errorf("the command printed more than %d KiB, which are no credentials", maxCredentialsText>>10)
		}
		return credentials.Value{}, fmt.Errorf("the command failed (%v); what it wrote to standard error is above", err)
	}
	var got struct {
		Version         int
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      *time.Time
	}
	if err := json.Unmarshal(out.buf.Bytes(), &got); err != nil {
		return credentials.Value{}, errors.New("the command did not print credentials in the AWS form: JSON with Version 1, AccessKeyId, SecretAccessKey, and SessionToken and Expiration for temporary ones")
	}
	switch {
	case got.Version != 1:
		return credentials.Value{}, fmt.Errorf("the command printed credentials of Version %d; starmig reads Version 1, the AWS form", got.Version)
	case got.AccessKeyID == "" || got.SecretAccessKey == "":
		return credentials.Value{}, errors.New("the command printed no AccessKeyId or no SecretAccessKey")
	}
	return credentials.Value{
		AccessKeyID:     got.AccessKeyID,
		SecretAccessKey: got.SecretAccessKey,
		SessionToken:    got.SessionToken,
		Expiration:      p.until(got.Expiration),
		SignerType:      credentials.SignatureV4,
	}, nil
}

// renewal is when credentials a source gave are asked for again: when 80 %
// of their time to their Expiration is over, never when they have none.
type renewal struct {
	credentials.Expiry
	lasting bool // the credentials have no Expiration
}

func (r *renewal) IsExpired() bool { return !r.lasting && r.Expiry.IsExpired() }

// until notes the Expiration a source gave (nil: none) and returns it,
// the zero time for none.
func (r *renewal) until(expiration *time.Time) time.Time {
	r.lasting = expiration == nil
	if expiration == nil {
		return time.Time{}
	}
	r.SetExpiration(*expiration, credentials.DefaultExpiryWindow)
	return *expiration
}

// boundedBuffer keeps what is written to it up to max bytes, and fails
// the write that goes over. (It has no ReadFrom, which would take all.)
type boundedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.over = true
		return 0, errors.New("too much output")
	}
	return b.buf.Write(p)
}
