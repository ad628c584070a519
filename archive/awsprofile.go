package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/starmig/starmig/internal/words"
)

// awsProfile is one profile of an AWS credentials or config file: its
// keys, in lower case, and their values.
type awsProfile map[string]string

// readAWSFile reads every section of an AWS credentials or config file
// (findSection then finds a profile's). The file is read as the AWS
// command line reads it (botocore, with Python's configparser): a line whose first character other than white
// space is '#' or ';' is a comment; "[name]" starts a section, the name
// running to the line's last ']'; "key = value" or "key: value" is a
// key, its name in any case, its value whole, '#', ';', quotes, backticks
// and a backslash at its end included, white space around it aside; a
// line indented deeper than its key's line goes on that key's value on a
// line of its own (the nested "s3 =" settings of a config file); the keys
// of a [DEFAULT] section are every other section's where it does not set
// them. A file in which a line is none of these, comes before any
// section, or repeats a section or a key of its section is refused, as
// the AWS command line refuses it. The error names the line by its
// number only, never quoting it: the lines hold secrets. A secret of
// MinIO's or another storage's may hold any of those characters, and a
// credential_process is a line of the shell.
func readAWSFile(path string) (map[string]awsProfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sections, err := parseAWSFile(b)
	if err != nil {
		return nil, fmt.Errorf("not in the form of an AWS credentials file ([profile] sections of key = value lines): %w", err)
	}
	return sections, nil
}

// findSection is a section of a file readAWSFile read, with the keys of
// its [DEFAULT] section that it does not set itself; errNoProfile if the
// file has no such section. A section of a kind, "profile NAME" or
// "services NAME", is found as the AWS command line finds it, by the
// words of its name as a shell splits them: [profile  dev ] and
// [profile "dev"] are the profile dev.
func findSection(sections map[string]awsProfile, section string) (awsProfile, error) {
	keys := sections[section]
	if kind, name, ok := strings.Cut(section, " "); keys == nil && ok {
		for _, s := range slices.Sorted(maps.Keys(sections)) {
			if w, ok := words.Shell(s); ok && len(w) == 2 && w[0] == kind && w[1] == name {
				keys = sections[s]
				break
			}
		}
	}
	if keys == nil {
		return nil, errNoProfile
	}
	with := maps.Clone(keys)
	for k, v := range sections[""] {
		if _, ok := with[k]; !ok {
			with[k] = v
		}
	}
	return with, nil
}

// nestedSettings reads the settings nested under a key of a config file,
// as the AWS command line reads them: "s3 =" followed by deeper indented
// "name = value" lines.
func nestedSettings(value string) (map[string]string, error) {
	settings := map[string]string{}
	for line := range strings.Lines(value) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errors.New("a nested line is not name = value")
		}
		settings[strings.TrimSpace(name)] = strings.TrimSpace(v)
	}
	return settings, nil
}

// parseAWSFile reads every section of an AWS credentials or config file
// by the rules of readAWSFile. The [DEFAULT] section's keys are under
// the name "".
func parseAWSFile(b []byte) (map[string]awsProfile, error) {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var (
		sections = map[string]awsProfile{}
		seen     = map[string]int{} // the line each section began on
		cur      awsProfile
		key      string // the key whose value a deeper line goes on
		indent   int    // the indentation of that key's line
		blanks   int    // blank lines since its value's last line
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		text := strings.TrimSpace(line)
		if text == "" {
			blanks++
			continue
		}
		if text[0] == '#' || text[0] == ';' {
			continue
		}
		depth := len(line) - len(strings.TrimLeftFunc(line, unicode.IsSpace))
		if cur != nil && key != "" && depth > indent {
			cur[key] += strings.Repeat("\n", blanks+1) + text
			blanks = 0
			continue
		}
		indent, blanks = depth, 0
		if end := strings.LastIndexByte(text, ']'); text[0] == '[' && end >= 2 {
			name := text[1:end]
			if name == "DEFAULT" {
				name = ""
			} else if first, ok := seen[name]; ok {
				return nil, fmt.Errorf("line %d begins again the section of line %d", n, first)
			}
			if sections[name] == nil {
				sections[name] = awsProfile{}
				seen[name] = n
			}
			cur, key = sections[name], ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d comes before any [section]", n)
		}
		at := strings.IndexAny(text, "=:")
		k := strings.ToLower(strings.TrimSpace(text[:max(at, 0)]))
		if at < 0 || k == "" {
			return nil, fmt.Errorf("line %d is neither a [section], a key = value line nor a comment", n)
		}
		if _, ok := cur[k]; ok {
			return nil, fmt.Errorf("line %d sets again a key its section set before", n)
		}
		cur[k], key = strings.TrimSpace(text[at+1:]), k
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errors.New("a line is longer than 1 MiB")
		}
		return nil, err
	}
	return sections, nil
}
