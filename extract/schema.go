// Package extract reads STAR1: its table description, and streaming reads
// of one consistent snapshot from Oracle or from the SQLite stand-in.
package extract

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the logical type of a STAR1 column, independent of the database
// that holds it.
type Kind int

const (
	Integer Kind = iota // NUMBER(p), ids: INTEGER in the stand-in
	Decimal             // NUMBER(12,2), money: decimal TEXT in the stand-in
	Date                // DATE, Europe/Tallinn wall clock: TEXT YYYY-MM-DD HH:MM:SS
	Text                // VARCHAR2, CHAR: TEXT
	CLOB                // CLOB: TEXT
	BLOB                // BLOB: BLOB
)

// Column is one STAR1 column as STAR1.md defines it.
type Column struct {
	Name    string
	Kind    Kind
	Oracle  string // the Oracle type, for the table description
	NotNull bool
	Comment string
}

// Table is one STAR1 table.
type Table struct {
	Name    string
	Key     []string // primary key columns
	Columns []Column
	Comment string
}

// Column returns the column named name, and whether there is one.
func (t Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Positions maps each STAR1 table's name to its columns' positions in a
// Row, by column name. It is shared: read it, never change it.
var Positions = func() map[string]map[string]int {
	m := map[string]map[string]int{}
	for _, t := range Tables {
		m[t.Name] = map[string]int{}
		for i, c := range t.Columns {
			m[t.Name][c.Name] = i
		}
	}
	return m
}()

// hasColumnFold reports whether the table has a column of that name in
// any case: a dictionary may give names in another case than STAR1.md
// writes them.
func (t Table) hasColumnFold(name string) bool {
	return slices.ContainsFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
}

// ColumnNames lists the table's columns in order.
func (t Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

func col(name string, kind Kind, oracle string, notNull bool, comment string) Column {
	return Column{Name: name, Kind: kind, Oracle: oracle, NotNull: notNull, Comment: comment}
}

// Tables is STAR1 as STAR1.md defines it, parents before children.
var Tables = []Table{
	{Name: "KOV", Key: []string{"KOV_KOOD"}, Comment: "municipalities, including those merged away in 2017", Columns: []Column{
		col("KOV_KOOD", Text, "VARCHAR2(4)", true, "4-digit EHAK code"),
		col("NIMI", Text, "VARCHAR2(100)", true, "name"),
		col("KEHTIV_KUNI", Date, "DATE", false, "set when the municipality ceased to exist"),
	}},
	{Name: "KLASSIFIKAATOR", Key: []string{"KLASS", "KOOD"}, Comment: "legacy code lists", Columns: []Column{
		col("KLASS", Text, "VARCHAR2(30)", true, "TEENUS, SEOSE_LIIK, MENETLUSE_LIIK, TOIMINGU_LIIK, KANAL"),
		col("KOOD", Text, "VARCHAR2(20)", true, "code"),
		col("NIMETUS", Text, "VARCHAR2(200)", true, "name"),
		col("KEHTIV_KUNI", Date, "DATE", false, "end of validity"),
	}},
	{Name: "ISIK", Key: []string{"ISIK_ID"}, Comment: "persons: people in need, relatives, guardians", Columns: []Column{
		col("ISIK_ID", Integer, "NUMBER(12)", true, "id"),
		col("ISIKUKOOD", Text, "VARCHAR2(20)", false, "Estonian personal identification code; may be NULL, a foreign identifier, or invalid"),
		col("EESNIMI", Text, "VARCHAR2(100)", false, "given name"),
		col("PERENIMI", Text, "VARCHAR2(100)", false, "family name"),
		col("SYNNIAEG", Date, "DATE", false, "birth date"),
		col("SUGU", Text, "CHAR(1)", false, "'M' male, 'N' female, NULL unknown"),
		col("KOV_KOOD", Text, "VARCHAR2(4)", false, "municipality of residence (may be a pre-2017 code)"),
		col("AADRESS", Text, "VARCHAR2(400)", false, "address"),
		col("LOODUD", Date, "DATE", true, "created"),
		col("MUUDETUD", Date, "DATE", false, "last modified"),
		col("KUSTUTATUD", Text, "CHAR(1)", true, "'J' soft-deleted, 'E' not"),
	}},
	{Name: "ISIKU_SEOS", Key: []string{"SEOS_ID"}, Comment: "a person's social network", Columns: []Column{
		col("SEOS_ID", Integer, "NUMBER(12)", true, "id"),
		col("ISIK_ID", Integer, "NUMBER(12)", true, "person"),
		col("SEOTUD_ISIK_ID", Integer, "NUMBER(12)", true, "related person"),
		col("SEOSE_LIIK", Text, "VARCHAR2(20)", true, "KLASSIFIKAATOR SEOSE_LIIK"),
		col("ALGUS", Date, "DATE", false, "start"),
		col("LOPP", Date, "DATE", false, "end"),
	}},
	{Name: "POORDUMINE", Key: []string{"POORDUMINE_ID"}, Comment: "applications / requests for help", Columns: []Column{
		col("POORDUMINE_ID", Integer, "NUMBER(12)", true, "id"),
		col("ISIK_ID", Integer, "NUMBER(12)", true, "applicant"),
		col("KOV_KOOD", Text, "VARCHAR2(4)", true, "municipality"),
		col("KANAL", Text, "VARCHAR2(10)", false, "KLASSIFIKAATOR KANAL"),
		col("SISU", CLOB, "CLOB", false, "content"),
		col("REG_KP", Date, "DATE", true, "registered at"),
	}},
	{Name: "MENETLUS", Key: []string{"MENETLUS_ID"}, Comment: "proceedings", Columns: []Column{
		col("MENETLUS_ID", Integer, "NUMBER(12)", true, "id"),
		col("POORDUMINE_ID", Integer, "NUMBER(12)", false, "application"),
		col("ISIK_ID", Integer, "NUMBER(12)", true, "subject"),
		col("KOV_KOOD", Text, "VARCHAR2(4)", true, "municipality"),
		col("LIIK", Text, "VARCHAR2(20)", true, "KLASSIFIKAATOR MENETLUSE_LIIK"),
		col("STAATUS", Text, "CHAR(1)", true, "'A' open, 'L' closed, 'K' discontinued"),
		col("ALGUS_KP", Date, "DATE", true, "started"),
		col("LOPP_KP", Date, "DATE", false, "ended"),
		col("VASTUTAJA", Text, "VARCHAR2(50)", false, "login of the responsible social worker"),
		col("MUUDETUD", Date, "DATE", false, "last modified"),
	}},
	{Name: "OTSUS", Key: []string{"OTSUS_ID"}, Comment: "decisions on services and benefits", Columns: []Column{
		col("OTSUS_ID", Integer, "NUMBER(12)", true, "id"),
		col("MENETLUS_ID", Integer, "NUMBER(12)", true, "proceeding"),
		col("TEENUS_KOOD", Text, "VARCHAR2(20)", true, "KLASSIFIKAATOR TEENUS"),
		col("TULEMUS", Text, "CHAR(1)", true, "'R' granted, 'O' partially granted, 'M' refused"),
		col("SUMMA", Decimal, "NUMBER(12,2)", false, "NULL for services without money"),
		col("VALUUTA", Text, "VARCHAR2(3)", false, "'EEK' or 'EUR'; NULL when SUMMA is NULL"),
		col("KEHTIV_ALATES", Date, "DATE", false, "valid from"),
		col("KEHTIV_KUNI", Date, "DATE", false, "valid to"),
		col("OTSUSE_KP", Date, "DATE", true, "decided on"),
	}},
	{Name: "MAKSE", Key: []string{"MAKSE_ID"}, Comment: "payments made on a decision", Columns: []Column{
		col("MAKSE_ID", Integer, "NUMBER(12)", true, "id"),
		col("OTSUS_ID", Integer, "NUMBER(12)", true, "decision"),
		col("SUMMA", Decimal, "NUMBER(12,2)", true, "amount"),
		col("VALUUTA", Text, "VARCHAR2(3)", true, "'EEK' or 'EUR'"),
		col("MAKSE_KP", Date, "DATE", true, "paid on"),
		col("SAAJA_IBAN", Text, "VARCHAR2(34)", false, "recipient IBAN"),
		col("STAATUS", Text, "VARCHAR2(10)", true, "'MAKSTUD' paid, 'TAGASI' returned, 'TYHISTATUD' cancelled"),
	}},
	{Name: "JUHTUMIPLAAN", Key: []string{"PLAAN_ID"}, Comment: "case plans", Columns: []Column{
		col("PLAAN_ID", Integer, "NUMBER(12)", true, "id"),
		col("MENETLUS_ID", Integer, "NUMBER(12)", true, "proceeding"),
		col("KOOSTATUD", Date, "DATE", true, "drawn up"),
		col("EESMARGID", CLOB, "CLOB", false, "goals"),
		col("HINNANG", CLOB, "CLOB", false, "assessment"),
		col("KEHTIV_KUNI", Date, "DATE", false, "valid to"),
	}},
	{Name: "TOIMING", Key: []string{"TOIMING_ID"}, Comment: "activities logged on a proceeding", Columns: []Column{
		col("TOIMING_ID", Integer, "NUMBER(14)", true, "id"),
		col("MENETLUS_ID", Integer, "NUMBER(12)", true, "proceeding"),
		col("LIIK", Text, "VARCHAR2(20)", true, "KLASSIFIKAATOR TOIMINGU_LIIK"),
		col("TOIMUS", Date, "DATE", true, "when it happened, with time of day"),
		col("KIRJELDUS", Text, "VARCHAR2(4000)", false, "description"),
		col("KASUTAJA", Text, "VARCHAR2(50)", false, "user"),
	}},
	{Name: "DOKUMENT", Key: []string{"DOKUMENT_ID"}, Comment: "documents attached to a proceeding", Columns: []Column{
		col("DOKUMENT_ID", Integer, "NUMBER(12)", true, "id"),
		col("MENETLUS_ID", Integer, "NUMBER(12)", true, "proceeding"),
		col("FAILINIMI", Text, "VARCHAR2(255)", true, "file name"),
		col("MIME_TYYP", Text, "VARCHAR2(100)", false, "MIME type"),
		col("SISU", BLOB, "BLOB", false, "content"),
		col("LOODUD", Date, "DATE", true, "created"),
	}},
}

var tablesByName = func() map[string]Table {
	m := map[string]Table{}
	for _, t := range Tables {
		m[t.Name] = t
	}
	return m
}()

// TableByName returns the STAR1 table named name.
func TableByName(name string) (Table, error) {
	if t, ok := tablesByName[name]; ok {
		return t, nil
	}
	return Table{}, fmt.Errorf("extract: no STAR1 table %q", name)
}

// InTableOrder gives the table names of m in the order of Tables
// (parents before children), the order the load and the reconciliation
// take them in, followed by any table Tables does not hold, by name.
func InTableOrder[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for _, t := range Tables {
		if _, ok := m[t.Name]; ok {
			names = append(names, t.Name)
		}
	}
	var rest []string
	for n := range m {
		if _, ok := tablesByName[n]; !ok {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// SQLiteType is the stand-in's column type for a kind (STAR1.md, type
// mapping).
func SQLiteType(k Kind) string {
	switch k {
	case Integer:
		return "INTEGER"
	case BLOB:
		return "BLOB"
	default:
		return "TEXT"
	}
}

// SQLiteDDL is the CREATE TABLE statement of t in the SQLite stand-in.
func SQLiteDDL(t Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n", t.Name)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "  %s %s", c.Name, SQLiteType(c.Kind))
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
		if t.Name == "ISIK" && c.Name == "KUSTUTATUD" {
			b.WriteString(" DEFAULT 'E'")
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", strings.Join(t.Key, ", "))
	return b.String()
}
