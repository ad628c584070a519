package synth

// Rates are the probabilities with which the generator injects each
// data-quality problem of STAR1.md. 0 turns a problem off.
type Rates struct {
	InvalidCode  float64 // 1: personal code failing the checksum or encoding an impossible date (of persons)
	ForeignCode  float64 // 1: NULL or foreign identifier (of persons)
	CodeMismatch float64 // 2: personal code disagreeing with SYNNIAEG or SUGU (of persons)
	Duplicate    float64 // 3: a second ISIK row with the same valid code (of persons)
	Deleted      float64 // 4: KUSTUTATUD = 'J' (of persons)
	Orphan       float64 // 5: reference to a row that does not exist (of rows, per referencing table)
	EEK          float64 // 6: money of 2010 in EEK (early 2011: a tenth of it)
	Mojibake     float64 // 7: mis-decoded UTF-8 (of name and address fields)
	Whitespace   float64 // 7: stray leading or trailing spaces (of name and address fields)
	Capitals     float64 // 7: names in capitals (of persons created before 2013)
	OldKOV       float64 // 8: pre-2017 municipality code (of rows dated before the reform)
	UnknownKOV   float64 // 8: municipality code in no KOV row and no mapping (of rows with a KOV_KOOD)
	Unmapped     float64 // 9: classifier code with no mapping (of rows with a classifier code)
	BadPeriod    float64 // 10: period ending before it starts (of MENETLUS and OTSUS rows)
	FutureDate   float64 // 10: event date after the reference date (of OTSUS, MAKSE and TOIMING rows)
	NUL          float64 // 11: NUL characters inside CLOB text (of CLOB values)
	BadIBAN      float64 // 12: IBAN failing mod-97 (of payments with an IBAN)
	BadDocument  float64 // 13: empty BLOB, NULL BLOB or wrong MIME type, a third each (of documents)
	DST          float64 // 14: TOIMUS in the skipped or repeated hour of a DST change (of TOIMING rows)
}

// Quirk describes one rate for the command line and for the tests.
type Quirk struct {
	Flag    string // flag name after "rate-"
	Problem int    // number of the problem in STAR1.md
	Usage   string
	Rate    func(*Rates) *float64
}

// Quirks lists every rate with its flag name.
var Quirks = []Quirk{
	{"invalid-code", 1, "persons whose personal code fails the checksum or encodes an impossible date", func(r *Rates) *float64 { return &r.InvalidCode }},
	{"foreign-code", 1, "persons with a NULL or foreign identifier", func(r *Rates) *float64 { return &r.ForeignCode }},
	{"code-mismatch", 2, "persons whose personal code disagrees with SYNNIAEG or SUGU", func(r *Rates) *float64 { return &r.CodeMismatch }},
	{"duplicate", 3, "persons entered again under another ISIK_ID with the same valid code", func(r *Rates) *float64 { return &r.Duplicate }},
	{"deleted", 4, "soft-deleted persons (KUSTUTATUD = 'J')", func(r *Rates) *float64 { return &r.Deleted }},
	{"orphan", 5, "rows of each referencing table pointing at a row that does not exist", func(r *Rates) *float64 { return &r.Orphan }},
	{"eek", 6, "money rows of 2010 in EEK (a tenth of this in January-February 2011)", func(r *Rates) *float64 { return &r.EEK }},
	{"mojibake", 7, "name and address fields stored as mis-decoded UTF-8", func(r *Rates) *float64 { return &r.Mojibake }},
	{"whitespace", 7, "name and address fields with stray leading or trailing spaces", func(r *Rates) *float64 { return &r.Whitespace }},
	{"capitals", 7, "persons created before 2013 with names in capitals", func(r *Rates) *float64 { return &r.Capitals }},
	{"old-kov", 8, "rows dated before the 2017 reform carrying a pre-reform municipality code", func(r *Rates) *float64 { return &r.OldKOV }},
	{"unknown-kov", 8, "rows carrying a municipality code that no KOV row or mapping has", func(r *Rates) *float64 { return &r.UnknownKOV }},
	{"unmapped", 9, "rows using a classifier code that the mapping folder does not map", func(r *Rates) *float64 { return &r.Unmapped }},
	{"bad-period", 10, "proceedings and decisions whose period ends before it starts", func(r *Rates) *float64 { return &r.BadPeriod }},
	{"future-date", 10, "decisions, payments and activities dated after the reference date", func(r *Rates) *float64 { return &r.FutureDate }},
	{"nul", 11, "CLOB values containing NUL characters", func(r *Rates) *float64 { return &r.NUL }},
	{"bad-iban", 12, "payment IBANs failing the mod-97 check", func(r *Rates) *float64 { return &r.BadIBAN }},
	{"bad-document", 13, "documents with an empty BLOB, a NULL BLOB or a wrong MIME type", func(r *Rates) *float64 { return &r.BadDocument }},
	{"dst", 14, "activities timed in the hour skipped or repeated at a DST change", func(r *Rates) *float64 { return &r.DST }},
}

// DefaultRates are the rates STAR1.md gives, and reasonable guesses where
// it gives none (docs/decisions.md).
func DefaultRates() Rates {
	return Rates{
		InvalidCode:  0.003,
		ForeignCode:  0.02,
		CodeMismatch: 0.01,
		Duplicate:    0.005,
		Deleted:      0.01,
		Orphan:       0.001,
		EEK:          1,
		Mojibake:     0.005,
		Whitespace:   0.01,
		Capitals:     0.3,
		OldKOV:       0.5,
		UnknownKOV:   0.0005,
		Unmapped:     0,
		BadPeriod:    0.001,
		FutureDate:   0.001,
		NUL:          0.001,
		BadIBAN:      0.002,
		BadDocument:  0.03,
		DST:          0.002,
	}
}
