package batch

import (
	"context"
	"strings"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/mapping"
)

// scnDialect names tables as Oracle does inside a snapshot taken at an SCN.
type scnDialect struct{}

func (scnDialect) Name() string                             { return "oracle" }
func (scnDialect) Table(t extract.Table) string             { return "STAR1." + t.Name + " AS OF SCN 7" }
func (scnDialect) Column(c extract.Column, q string) string { return q + "." + c.Name }

// querySnapshot records the queries run in it and returns no rows.
type querySnapshot struct{ queries []string }

func (*querySnapshot) Dialect() extract.Dialect { return scnDialect{} }
func (*querySnapshot) Scan(context.Context, extract.Table, []string, []string, func(extract.Row) error) error {
	return nil
}
func (s *querySnapshot) Query(_ context.Context, q string, _ func([]any) error) error {
	s.queries = append(s.queries, q)
	return nil
}
func (*querySnapshot) Close() error { return nil }

// Every STAR1 table the pre-flight and the reconciliation read is named
// through the snapshot's dialect, so that on Oracle they read STAR1 AS OF
// the batch's SCN, as the scans do, and not STAR1 as it is by then.
func TestSTAR1QueriesReadInTheSnapshot(t *testing.T) {
	snap := &querySnapshot{}
	if _, err := Preflight(context.Background(), snap, &mapping.Mappings{}); err != nil {
		t.Fatal(err)
	}
	for _, mt := range mapping.Tables {
		snap.queries = append(snap.queries, sourceQuery(snap.Dialect(), mt.Star1))
	}
	if len(snap.queries) < len(mapping.Tables)+1 {
		t.Fatalf("only %d queries", len(snap.queries))
	}
	for _, q := range snap.queries {
		tables := strings.Count(q, " FROM ") + strings.Count(q, " JOIN ")
		if n := strings.Count(q, " AS OF SCN 7"); n != tables {
			t.Errorf("%d of %d tables read at the snapshot's SCN in:\n%s", n, tables, q)
		}
	}
}
