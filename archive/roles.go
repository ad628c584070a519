package archive

import "strings"

// Role is a kind of user of the archive: the commands it runs, and the
// key files it holds (keys gen says so to the key custodian). Each role
// also has storage credentials of its own, with the rights
// docs/archive.md gives.
type Role struct {
	Name     string
	Commands string
	KeyFiles []string
}

// Roles are the archive's roles: writers, archivists and operators abroad.
var Roles = []Role{
	{"writers", "archive, migrate --archive", []string{RecipientFile, SignKeyFile, IndexKeyFile}},
	{"archivists", "retrieve, restore, audit", []string{IdentityFile, IndexKeyFile, SignPubFile}},
	{"operators abroad", "verify", []string{SignPubFile}},
}

// rolesText names each role with its commands: "writers: archive, …;
// archivists: …".
func rolesText() string {
	parts := make([]string, len(Roles))
	for i, r := range Roles {
		parts[i] = r.Name + ": " + r.Commands
	}
	return strings.Join(parts, "; ")
}
