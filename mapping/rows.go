package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/extract"
)

// Rules a row can break that no automatic fix may decide (STAR2.md); such
// a row is quarantined with the rule and a readable detail.
const (
	RuleInvalidPersonalCode = "invalid_personal_code"
	RuleParentQuarantined   = "parent_quarantined"
	RuleOrphan              = "orphan"
	RuleUnknownMunicipality = "unknown_municipality"
	RuleUnmappedCode        = "unmapped_code"
	RuleInvalidPeriod       = "invalid_period"
	RuleFutureDate          = "future_date"
	RuleInvalidValue        = "invalid_value" // a status or outcome code outside its list
	RuleInvalidMoney        = "invalid_money" // an amount or currency that cannot be read
	RuleRejected            = "rejected_by_database"
)

// Corrections rules make, recorded with the original value.
const (
	FixFromPersonalCode = "from_personal_code"     // birth date or gender taken from the code
	FixMunicipality     = "municipality_successor" // pre-2017 code mapped to its successor
	FixEEK              = "eek_to_eur"
	FixInvalidIBAN      = "invalid_iban"
	FixIBANForm         = "iban_electronic_form" // spaces taken out, letters in capitals
	FixMediaType        = "media_type_sniffed"
	FixNullContent      = "null_content"
	FixFileName         = "file_name_missing"
	FixUnknownGender    = "gender_unknown" // SUGU outside M and N, without a code to take it from
	// Text repairs are recorded as "text_" + the repair (RepairTrimmed...),
	// DST resolutions as the WallRepeated and WallSkipped values.
)

// Config is what mapping needs beside the row: the mapping decisions and
// the reference date.
type Config struct {
	Mappings *Mappings
	AsOf     time.Time // the batch's reference date, midnight UTC
}

// Refs are the STAR2 ids of a row's person references, resolved through
// duplicates by the caller (rule 3).
type Refs struct {
	Person, Related uuid.UUID
}

// Correction is one value a rule changed.
type Correction struct {
	Column, Rule, Original, Corrected string
}

// Result is a mapped row: its STAR2 values in the table's column order, the
// corrections made, and the rule it breaks ("" when none).
type Result struct {
	Values      []any
	Corrections []Correction
	Rule        string
	Detail      string
	AmountEUR   *Cents // OTSUS and MAKSE: SUMMA in euros by rule 6
}

// Table says how one STAR1 table maps to one STAR2 table.
type Table struct {
	Star1   string
	Star2   string
	Columns []string // STAR2 columns, in the order of Result.Values
	// PersonRefs are the STAR1 columns holding person ids, in the order of
	// Refs (Person, Related).
	PersonRefs []string
	Map        func(r extract.Row, refs Refs, c *Config) Result
}

// Money says the table's STAR2 rows hold an amount (amount_eur), which
// the reconciliation sums to the cent.
func (t Table) Money() bool { return slices.Contains(t.Columns, "amount_eur") }

// Tables maps the nine STAR1 data tables, parents before children.
var Tables = []Table{
	{"ISIK", "person", []string{"id", "personal_code", "foreign_id", "given_name", "family_name", "birth_date", "gender", "municipality_code", "address", "created_at", "updated_at"}, nil, mapPerson},
	{"ISIKU_SEOS", "person_relation", []string{"id", "person_id", "related_person_id", "relation_type", "valid_from", "valid_to"}, []string{"ISIK_ID", "SEOTUD_ISIK_ID"}, mapRelation},
	{"POORDUMINE", "application", []string{"id", "person_id", "municipality_code", "channel", "content", "registered_at"}, []string{"ISIK_ID"}, mapApplication},
	{"MENETLUS", "proceeding", []string{"id", "application_id", "person_id", "municipality_code", "proceeding_type", "status", "started_on", "ended_on", "responsible_user", "updated_at"}, []string{"ISIK_ID"}, mapProceeding},
	{"OTSUS", "decision", []string{"id", "proceeding_id", "service_code", "outcome", "amount_eur", "valid_from", "valid_to", "decided_on"}, nil, mapDecision},
	{"MAKSE", "payment", []string{"id", "decision_id", "amount_eur", "paid_on", "recipient_iban", "status"}, nil, mapPayment},
	{"JUHTUMIPLAAN", "case_plan", []string{"id", "proceeding_id", "drawn_up_on", "goals", "assessment", "valid_to"}, nil, mapCasePlan},
	{"TOIMING", "activity", []string{"id", "proceeding_id", "activity_type", "occurred_at", "description", "performed_by"}, nil, mapActivity},
	{"DOKUMENT", "document", []string{"id", "proceeding_id", "file_name", "media_type", "size_bytes", "sha256", "content", "created_at"}, nil, mapDocument},
}

// FreeText lists, per STAR1 table, the text columns that only rule 11 (text
// repair) reads: no rule that quarantines, merges or excludes a row, and no
// amount, looks at them. Pass 1, which only decides outcomes, skips them.
var FreeText = map[string][]string{
	"ISIK":     {"EESNIMI", "PERENIMI", "AADRESS"},
	"MENETLUS": {"VASTUTAJA"},
	"TOIMING":  {"KIRJELDUS", "KASUTAJA"},
	"DOKUMENT": {"FAILINIMI"},
}

// TableFor returns the mapping of a STAR1 table.
func TableFor(star1 string) (Table, bool) {
	for _, t := range Tables {
		if t.Star1 == star1 {
			return t, true
		}
	}
	return Table{}, false
}

// row gives named access to a STAR1 row and collects what the mapping does.
type row struct {
	t   extract.Table
	r   extract.Row
	c   *Config
	idx map[string]int
	res Result
}

func newRow(table string, r extract.Row, c *Config) *row {
	t, err := extract.TableByName(table)
	if err != nil {
		panic(err) // the tables above are STAR1's: cannot happen
	}
	return &row{t: t, r: r, c: c, idx: extract.Positions[table]}
}

func (x *row) raw(col string) any { return x.r[x.idx[col]] }

func (x *row) id() int64 { v, _ := x.raw(x.t.Key[0]).(int64); return v }

func (x *row) int(col string) (int64, bool) { v, ok := x.raw(col).(int64); return v, ok }

func (x *row) str(col string) (string, bool) { v, ok := x.raw(col).(string); return v, ok }

// brk records a broken rule; the first one decides, every one is described.
func (x *row) brk(rule, format string, args ...any) {
	if x.res.Rule == "" {
		x.res.Rule = rule
	}
	d := rule + ": " + fmt.Sprintf(format, args...)
	if x.res.Detail == "" {
		x.res.Detail = d
	} else {
		x.res.Detail += "; " + d
	}
}

// fix records a correction. The bookkeeping must take every correction,
// so both values are made text PostgreSQL accepts (see extract.Visible).
func (x *row) fix(col, rule, orig, corrected string) {
	x.res.Corrections = append(x.res.Corrections, Correction{col, rule, extract.Visible(orig), extract.Visible(corrected)})
}

// text cleans a text column (rule 11); nil for NULL or empty.
func (x *row) text(col string) any {
	s, ok := x.str(col)
	if !ok {
		return nil
	}
	out, valid, repairs := CleanText(s)
	for _, rep := range repairs {
		x.fix(col, "text_"+rep, s, out)
	}
	if !valid {
		return nil
	}
	return out
}

// wall parses a DATE column; ok false for NULL. A value that is not a date
// breaks invalid_value.
func (x *row) wall(col string) (time.Time, bool) {
	s, ok := x.str(col)
	if !ok {
		return time.Time{}, false
	}
	w, err := ParseWallClock(s)
	if err != nil {
		x.brk(RuleInvalidValue, "%s %q is not a date", col, s)
		return time.Time{}, false
	}
	return w, true
}

// date is a DATE column as a STAR2 date; event dates after the reference
// date break future_date (rule 10).
func (x *row) date(col string, event bool) any {
	w, ok := x.wall(col)
	if !ok {
		return nil
	}
	d := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
	if event && d.After(x.c.AsOf) {
		x.brk(RuleFutureDate, "%s %s is after the reference date %s", col, d.Format(time.DateOnly), x.c.AsOf.Format(time.DateOnly))
	}
	return d
}

// instant is a DATE column as a STAR2 timestamptz (rule 13).
func (x *row) instant(col string, event bool) any {
	w, ok := x.wall(col)
	if !ok {
		return nil
	}
	if event && !w.Before(x.c.AsOf.Add(24*time.Hour)) { // AsOf is in UTC: a day is 24 hours
		x.brk(RuleFutureDate, "%s %s is after the reference date %s", col, w.Format(WallClockLayout), x.c.AsOf.Format(time.DateOnly))
	}
	t, how := TallinnInstant(w)
	if how != WallExact {
		x.fix(col, how, w.Format(WallClockLayout), t.Format(time.RFC3339))
	}
	return t
}

func (x *row) period(fromCol, toCol string, from, to any) {
	f, fok := from.(time.Time)
	t, tok := to.(time.Time)
	if fok && tok && t.Before(f) {
		x.brk(RuleInvalidPeriod, "%s %s is before %s %s", toCol, t.Format(time.DateOnly), fromCol, f.Format(time.DateOnly))
	}
}

// municipality maps a KOV column (rule 7).
func (x *row) municipality(col string) any {
	code, ok := x.str(col)
	if !ok {
		return nil
	}
	m, found := x.c.Mappings.Municipality(code)
	if !found {
		x.brk(RuleUnknownMunicipality, "%s %q has no mapping", col, code)
		return nil
	}
	if m.Code != code {
		x.fix(col, FixMunicipality, code, m.Code)
	}
	return m.Code
}

// classifier maps a code-list column (rule 8).
func (x *row) classifier(col, class string) any {
	code, ok := x.str(col)
	if !ok {
		return nil
	}
	cl, found := x.c.Mappings.Classifier(class, code)
	if !found {
		x.brk(RuleUnmappedCode, "%s %s/%s has no mapping", col, class, extract.Visible(code))
		return nil
	}
	return cl.Code
}

// code maps a status or outcome code through a fixed list (rule 9).
func (x *row) code(col string, list map[string]string) any {
	s, _ := x.str(col)
	v, ok := list[strings.TrimSpace(s)]
	if !ok {
		x.brk(RuleInvalidValue, "%s %q is not one of its codes", col, s)
		return nil
	}
	return v
}

// money reads SUMMA in VALUUTA and converts it to euros (rule 6).
func (x *row) money(amountCol, currencyCol string) any {
	s, ok := x.str(amountCol)
	if !ok {
		return nil
	}
	amount, err := ParseCents(s)
	if err != nil {
		x.brk(RuleInvalidMoney, "%s: %v", amountCol, err)
		return nil
	}
	cur, _ := x.str(currencyCol)
	eur, err := ToEUR(amount, cur)
	if err != nil {
		x.brk(RuleInvalidMoney, "%s: %v", currencyCol, err)
		return nil
	}
	if strings.TrimSpace(cur) == "EEK" {
		x.fix(amountCol, FixEEK, s+" EEK", eur.String()+" EUR")
	}
	x.res.AmountEUR = &eur
	return Numeric(eur)
}

// Numeric is cents as a PostgreSQL numeric with two decimals.
func Numeric(c Cents) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(c)), Exp: -2, Valid: true}
}

// NumericValue is the amount as pgx takes a numeric, so that Cents can be
// written to a numeric column as it is (internal/pgcopy encodes it
// without a big.Int).
func (c Cents) NumericValue() (pgtype.Numeric, error) { return Numeric(c), nil }

func (x *row) ref(table, col string) any {
	id, ok := x.int(col)
	if !ok {
		return nil
	}
	return ID(table, id)
}

func (x *row) done(values ...any) Result {
	x.res.Values = values
	return x.res
}

var (
	statuses = map[string]string{"A": "open", "L": "closed", "K": "discontinued"}
	outcomes = map[string]string{"R": "granted", "O": "partially_granted", "M": "refused"}
	payments = map[string]string{"MAKSTUD": "paid", "TAGASI": "returned", "TYHISTATUD": "cancelled"}
	genders  = map[string]string{"M": Male, "N": Female}

	softDeleteFlags = map[string]string{"J": "deleted", "E": "not deleted"}
)

// SoftDeleted reports whether ISIK.KUSTUTATUD marks the person deleted
// (rule 4): 'J', as the code lists read it, spaces around it aside.
func SoftDeleted(kustutatud any) bool {
	s, _ := kustutatud.(string)
	return softDeleteFlags[strings.TrimSpace(s)] == "deleted"
}

// MaybeOpen reports whether MENETLUS.STAATUS leaves a proceeding live
// whatever its dates: open ('A'), or a status outside its list, which no
// rule may read as closed. Such a proceeding is then mapped, and
// quarantined as invalid_value for an analyst, instead of being archived
// unseen as history.
func MaybeOpen(staatus any) bool {
	s, _ := staatus.(string)
	st := statuses[strings.TrimSpace(s)]
	return st != "closed" && st != "discontinued"
}

// PersonKey is what rule 2 makes of ISIKUKOOD: the valid personal code
// (code != ""), a foreign identifier, or a broken code.
func PersonKey(isikukood any) (code, foreign string, err error) {
	s, ok := isikukood.(string)
	if !ok {
		return "", "", nil
	}
	s = strings.TrimSpace(s)
	if !LooksLikePersonalCode(s) {
		return "", s, nil
	}
	if _, err := ParsePersonalCode(s); err != nil {
		return "", "", err
	}
	return s, "", nil
}

func mapPerson(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("ISIK", r, c)
	code, foreign, err := PersonKey(x.raw("ISIKUKOOD"))
	var id uuid.UUID
	var pc, fid, birth, gender any
	switch {
	case err != nil:
		x.brk(RuleInvalidPersonalCode, "%v", err)
		id = ID("ISIK", x.id())
	case code != "":
		p, _ := ParsePersonalCode(code)
		id, pc, birth, gender = PersonID(code), code, p.BirthDate, p.Gender
		if s, ok := x.str("SYNNIAEG"); !ok || !strings.HasPrefix(s, p.BirthDate.Format(time.DateOnly)) {
			x.fix("SYNNIAEG", FixFromPersonalCode, s, p.BirthDate.Format(time.DateOnly))
		}
		if s, ok := x.str("SUGU"); !ok || genders[strings.TrimSpace(s)] != p.Gender {
			x.fix("SUGU", FixFromPersonalCode, s, p.Gender)
		}
	default:
		id = ID("ISIK", x.id())
		if foreign != "" {
			fid = x.text("ISIKUKOOD") // rule 11, as any text: trimmed, NUL removed
		}
		birth = x.date("SYNNIAEG", false)
		if s, ok := x.str("SUGU"); ok {
			if g, known := genders[strings.TrimSpace(s)]; known {
				gender = g
			} else {
				x.fix("SUGU", FixUnknownGender, s, "")
			}
		}
	}
	// Only 'J' is a soft delete (rule 4), and only 'E' is not: another
	// flag leaves it undecided whether the person may go to STAR2.
	x.code("KUSTUTATUD", softDeleteFlags)
	if b, ok := birth.(time.Time); ok && b.After(c.AsOf) {
		x.brk(RuleFutureDate, "birth date %s is after the reference date", b.Format(time.DateOnly))
	}
	created := x.instant("LOODUD", true)
	updated := x.instant("MUUDETUD", true)
	return x.done(id, pc, fid, x.text("EESNIMI"), x.text("PERENIMI"), birth, gender,
		x.municipality("KOV_KOOD"), x.text("AADRESS"), created, updated)
}

func mapRelation(r extract.Row, refs Refs, c *Config) Result {
	x := newRow("ISIKU_SEOS", r, c)
	typ := x.classifier("SEOSE_LIIK", "SEOSE_LIIK")
	from, to := x.date("ALGUS", true), x.date("LOPP", false)
	x.period("ALGUS", "LOPP", from, to)
	return x.done(ID("ISIKU_SEOS", x.id()), refs.Person, refs.Related, typ, from, to)
}

func mapApplication(r extract.Row, refs Refs, c *Config) Result {
	x := newRow("POORDUMINE", r, c)
	kov := x.municipality("KOV_KOOD")
	channel := x.classifier("KANAL", "KANAL")
	return x.done(ID("POORDUMINE", x.id()), refs.Person, kov, channel, x.text("SISU"), x.instant("REG_KP", true))
}

func mapProceeding(r extract.Row, refs Refs, c *Config) Result {
	x := newRow("MENETLUS", r, c)
	kov := x.municipality("KOV_KOOD")
	typ := x.classifier("LIIK", "MENETLUSE_LIIK")
	status := x.code("STAATUS", statuses)
	start, end := x.date("ALGUS_KP", true), x.date("LOPP_KP", true)
	x.period("ALGUS_KP", "LOPP_KP", start, end)
	return x.done(ID("MENETLUS", x.id()), x.ref("POORDUMINE", "POORDUMINE_ID"), refs.Person, kov, typ, status,
		start, end, x.text("VASTUTAJA"), x.instant("MUUDETUD", true))
}

func mapDecision(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("OTSUS", r, c)
	svc := x.classifier("TEENUS_KOOD", "TEENUS")
	outcome := x.code("TULEMUS", outcomes)
	amount := x.money("SUMMA", "VALUUTA")
	from, to := x.date("KEHTIV_ALATES", false), x.date("KEHTIV_KUNI", false)
	x.period("KEHTIV_ALATES", "KEHTIV_KUNI", from, to)
	return x.done(ID("OTSUS", x.id()), x.ref("MENETLUS", "MENETLUS_ID"), svc, outcome, amount, from, to, x.date("OTSUSE_KP", true))
}

func mapPayment(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("MAKSE", r, c)
	amount := x.money("SUMMA", "VALUUTA")
	var iban any
	if s, ok := x.str("SAAJA_IBAN"); ok {
		switch e := ElectronicIBAN(s); {
		case !ValidIBAN(e):
			x.fix("SAAJA_IBAN", FixInvalidIBAN, s, "")
		case e != s:
			// Written as printed ("EE38 2200 …"), in small letters or with
			// spaces around it: the same account, loaded as STAR2 holds
			// IBANs.
			iban = e
			x.fix("SAAJA_IBAN", FixIBANForm, s, e)
		default:
			iban = e
		}
	}
	status := x.code("STAATUS", payments)
	return x.done(ID("MAKSE", x.id()), x.ref("OTSUS", "OTSUS_ID"), amount, x.date("MAKSE_KP", true), iban, status)
}

func mapCasePlan(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("JUHTUMIPLAAN", r, c)
	drawn, until := x.date("KOOSTATUD", true), x.date("KEHTIV_KUNI", false)
	x.period("KOOSTATUD", "KEHTIV_KUNI", drawn, until)
	return x.done(ID("JUHTUMIPLAAN", x.id()), x.ref("MENETLUS", "MENETLUS_ID"), drawn, x.text("EESMARGID"), x.text("HINNANG"), until)
}

func mapActivity(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("TOIMING", r, c)
	typ := x.classifier("LIIK", "TOIMINGU_LIIK")
	return x.done(ID("TOIMING", x.id()), x.ref("MENETLUS", "MENETLUS_ID"), typ, x.instant("TOIMUS", true),
		x.text("KIRJELDUS"), x.text("KASUTAJA"))
}

func mapDocument(r extract.Row, _ Refs, c *Config) Result {
	x := newRow("DOKUMENT", r, c)
	content, isBlob := x.raw("SISU").([]byte)
	if !isBlob {
		x.fix("SISU", FixNullContent, "NULL", "empty")
	}
	if content == nil {
		// Empty content, never NULL: a nil slice would be written as NULL.
		content = []byte{}
	}
	given, _ := x.str("MIME_TYYP")
	media, changed := MediaType(given, content)
	if changed {
		x.fix("MIME_TYYP", FixMediaType, given, media)
	}
	name := x.text("FAILINIMI")
	if name == nil {
		name = fmt.Sprintf("dokument_%d", x.id())
		x.fix("FAILINIMI", FixFileName, "", name.(string))
	}
	sum := sha256.Sum256(content)
	return x.done(ID("DOKUMENT", x.id()), x.ref("MENETLUS", "MENETLUS_ID"), name, media, int64(len(content)),
		hex.EncodeToString(sum[:]), content, x.instant("LOODUD", true))
}

// MediaType checks a document's MIME type against its content (rule 14):
// a missing type, or one the content plainly contradicts, is replaced by
// the sniffed type. Where sniffing cannot tell (no content, unknown binary,
// or text labelled as a more specific text type) the given type stands. A
// given type that is no media type at all (RFC 2045) counts as missing.
//
// ZIP, plain text and XML are what many formats are made of: a DOCX, an
// ODT or a signed ASiC-E container (BDOC) sniffs as ZIP, JSON, RTF or a
// mail as text, a DigiDoc as XML. Such content contradicts only a type that
// sniffing recognises by a signature of its own (a PDF, an image, a text
// type, another archive); any other given type is taken as the more
// specific name of the format and stands. A ZIP file whose format can be
// read from inside it (zipFormat) is judged by that format instead.
func MediaType(given string, content []byte) (string, bool) {
	g := strings.ToLower(strings.TrimSpace(given))
	if base, _, ok := strings.Cut(g, ";"); ok {
		g = strings.TrimSpace(base)
	}
	if _, _, err := mime.ParseMediaType(g); err != nil || !strings.Contains(g, "/") {
		g = ""
	}
	if len(content) == 0 {
		if g == "" {
			return "application/octet-stream", true
		}
		return given, false
	}
	sniffed, _, _ := strings.Cut(http.DetectContentType(content), ";")
	if sniffed == "application/zip" {
		if media, family := zipFormat(content); media != "" {
			return zipMediaType(given, g, media, family)
		}
	}
	switch {
	case g == "":
		return sniffed, true
	case g == sniffed:
		return given, false
	case sniffed == "application/octet-stream":
		return given, false
	case sniffed == "text/plain" && strings.HasPrefix(g, "text/"):
		return given, false
	case containerTypes[sniffed] && !hasSignature(g):
		return given, false
	}
	return sniffed, true
}

// zipMediaType decides rule 14 for a ZIP file whose format zipFormat
// knows: a missing type, a type of another known format (application/msword
// on a DOCX) or one with a signature of its own takes the format's type; a
// type of the same family, application/zip itself, and a type rule 14 does
// not know stand.
func zipMediaType(given, g, media, family string) (string, bool) {
	switch {
	case g == "":
		return media, true
	case familyOf(g) == family, g == "application/zip":
		return given, false
	case familyOf(g) != "", legacyOffice[g], hasSignature(g):
		return media, true
	}
	return given, false
}

// containerTypes are the sniffed types that many formats share.
var containerTypes = map[string]bool{"application/zip": true, "text/plain": true, "text/xml": true}

// hasSignature tells whether content of media type g (lower case, without
// parameters) is recognised by http.DetectContentType by a signature of
// its own, so that content sniffed as another type contradicts g. The
// vague application/octet-stream counts too: any sniffed type is better.
func hasSignature(g string) bool {
	top, _, _ := strings.Cut(g, "/")
	switch top {
	case "text", "image", "audio", "video", "font":
		return true
	}
	switch g {
	case "application/octet-stream", "application/pdf", "application/postscript", "application/ogg",
		"application/gzip", "application/x-gzip", "application/zip", "application/x-rar-compressed",
		"application/vnd.rar", "application/wasm", "application/vnd.ms-fontobject":
		return true
	}
	return false
}
