package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// BagIt 1.0 (RFC 8493) files of a bundle.
const (
	BagitTxt       = "bagit.txt"
	BagInfoTxt     = "bag-info.txt"
	Manifest256    = "manifest-sha256.txt"
	Manifest512    = "manifest-sha512.txt"
	TagManifest256 = "tagmanifest-sha256.txt"
	TagManifest512 = "tagmanifest-sha512.txt"
	// TagSignature is the Ed25519 signature of tagmanifest-sha512.txt. It is
	// a tag file outside the tag manifests (it cannot list itself).
	TagSignature = TagManifest512 + ".sig"
)

var bagitDeclaration = []byte("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")

// Digests are the SHA-256 and SHA-512 of one file, hex.
type Digests struct {
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512"`
}

// Digester hashes what is written to it with both algorithms, and counts
// it.
type Digester = digester

// NewDigester returns an empty Digester.
func NewDigester() *Digester { return newDigester() }

// Len is how many bytes were written.
func (d *digester) Len() int64 { return d.n }

type digester struct {
	s256, s512 hash.Hash
	n          int64
}

func newDigester() *digester { return &digester{s256: sha256.New(), s512: sha512.New()} }

func (d *digester) Write(p []byte) (int, error) {
	d.s256.Write(p)
	d.s512.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digester) Sum() Digests {
	return Digests{SHA256: hex.EncodeToString(d.s256.Sum(nil)), SHA512: hex.EncodeToString(d.s512.Sum(nil))}
}

func digestOf(b []byte) Digests {
	d := newDigester()
	d.Write(b)
	return d.Sum()
}

// manifestText is a BagIt manifest: one "digest  path" line per file,
// sorted by path.
func manifestText(files map[string]Digests, sha512 bool) []byte {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b bytes.Buffer
	for _, p := range paths {
		d := files[p].SHA256
		if sha512 {
			d = files[p].SHA512
		}
		fmt.Fprintf(&b, "%s  %s\n", d, encodeBagPath(p))
	}
	return b.Bytes()
}

// encodeBagPath percent-encodes what RFC 8493 asks for in manifest paths.
func encodeBagPath(p string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(p)
}

func decodeBagPath(p string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%0d", "\r", "%0a", "\n", "%25", "%").Replace(p)
}

// ParseManifest reads a BagIt manifest into path → hex digest, refusing a
// malformed line or a path listed twice.
func ParseManifest(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		digest, path, ok := strings.Cut(line, " ")
		path = strings.TrimLeft(path, " \t")
		if !ok || digest == "" || path == "" {
			return nil, fmt.Errorf("line %d: want \"digest path\"", n)
		}
		path = decodeBagPath(path)
		if _, dup := out[path]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", n, path)
		}
		out[path] = strings.ToLower(digest)
	}
	return out, sc.Err()
}

// ParseBagInfo reads bag-info.txt labels (continuation lines joined).
func ParseBagInfo(b []byte) (map[string][]string, error) {
	out := map[string][]string{}
	var last string
	for n, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			vs := out[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		label, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("bag-info.txt line %d: want \"Label: value\"", n+1)
		}
		last = strings.TrimSpace(label)
		out[last] = append(out[last], strings.TrimSpace(value))
	}
	return out, nil
}

// ValidateBag checks a bag in a local folder against RFC 8493: the
// declaration, every payload file listed in every payload manifest and
// matching it, no manifest entry without its file, tag manifests matching
// the tag files they list, and Payload-Oxum. It returns every problem
// found, none for a valid bag.
func ValidateBag(dir string) ([]string, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	decl, err := os.ReadFile(filepath.Join(dir, BagitTxt))
	if err != nil {
		return nil, err
	}
	info, err := ParseBagInfo(decl)
	if err != nil || len(info["BagIt-Version"]) != 1 || len(info["Tag-File-Character-Encoding"]) != 1 {
		bad("bagit.txt: want BagIt-Version and Tag-File-Character-Encoding, once each")
	} else if info["BagIt-Version"][0] != "1.0" || !strings.EqualFold(info["Tag-File-Character-Encoding"][0], "UTF-8") {
		bad("bagit.txt: version %s, encoding %s", info["BagIt-Version"][0], info["Tag-File-Character-Encoding"][0])
	}
	payload := map[string]int64{}
	err = filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		payload[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	entries, _ := os.ReadDir(dir)
	var manifests, tagManifests []string
	for _, e := range entries {
		switch n := e.Name(); {
		case strings.HasPrefix(n, "manifest-") && strings.HasSuffix(n, ".txt"):
			manifests = append(manifests, n)
		case strings.HasPrefix(n, "tagmanifest-") && strings.HasSuffix(n, ".txt"):
			tagManifests = append(tagManifests, n)
		}
	}
	if len(manifests) == 0 {
		bad("no payload manifest")
	}
	check := func(manifest string, tag bool) {
		alg := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(manifest, "tag"), "manifest-"), ".txt")
		var newHash func() hash.Hash
		switch alg {
		case "sha256":
			newHash = sha256.New
		case "sha512":
			newHash = sha512.New
		default:
			bad("%s: algorithm %s not checked", manifest, alg)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, manifest))
		if err != nil {
			bad("%s: %v", manifest, err)
			return
		}
		m, err := ParseManifest(b)
		if err != nil {
			bad("%s: %v", manifest, err)
			return
		}
		for p, want := range m {
			if strings.Contains(p, "..") || strings.HasPrefix(p, "/") {
				bad("%s: path %q leaves the bag", manifest, p)
				continue
			}
			if !tag && !strings.HasPrefix(p, "data/") {
				bad("%s: %s is not payload", manifest, p)
			}
			f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				bad("%s: %s listed but missing", manifest, p)
				continue
			}
			h := newHash()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				bad("%s: %s: %v", manifest, p, err)
			} else if got := hex.EncodeToString(h.Sum(nil)); got != want {
				bad("%s: %s has %s %s, manifest says %s", manifest, p, alg, got, want)
			}
		}
		if !tag {
			for p := range payload {
				if _, ok := m[p]; !ok {
					bad("%s: payload file %s not listed", manifest, p)
				}
			}
		}
	}
	for _, m := range manifests {
		check(m, false)
	}
	for _, m := range tagManifests {
		check(m, true)
	}
	if b, err := os.ReadFile(filepath.Join(dir, BagInfoTxt)); err == nil {
		info, err := ParseBagInfo(b)
		if err != nil {
			bad("%v", err)
		} else if oxum := info["Payload-Oxum"]; len(oxum) == 1 {
			var total int64
			for _, n := range payload {
				total += n
			}
			if want := strconv.FormatInt(total, 10) + "." + strconv.Itoa(len(payload)); oxum[0] != want {
				bad("bag-info.txt: Payload-Oxum %s, payload is %s", oxum[0], want)
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}
