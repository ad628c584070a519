package load

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/pgcopy"
)

//go:embed sql/plan.sql
var planSQL string

// PlanTable is a narrow table pass 1 fills with what the outcome rules need
// of each STAR1 row.
type PlanTable struct {
	Star1   string
	Name    string   // table in the work schema
	Columns []string // in COPY order
	DDL     string   // column definitions
}

// PlanTables are the plan tables, parents before children.
var PlanTables = []PlanTable{
	{"ISIK", "person", []string{"id", "star2_id", "code", "deleted", "modified", "kov", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, star2_id uuid NOT NULL, code text, deleted boolean NOT NULL, modified text NOT NULL, kov text, amount numeric, rule text, detail text"},
	{"ISIKU_SEOS", "relation", []string{"id", "person", "related", "rule", "detail"},
		"id bigint PRIMARY KEY, person bigint NOT NULL, related bigint NOT NULL, rule text, detail text"},
	{"POORDUMINE", "application", []string{"id", "person", "kov", "registered", "rule", "detail"},
		"id bigint PRIMARY KEY, person bigint NOT NULL, kov text, registered date, rule text, detail text"},
	{"MENETLUS", "proceeding", []string{"id", "application", "person", "kov", "open", "ended", "rule", "detail"},
		"id bigint PRIMARY KEY, application bigint, person bigint NOT NULL, kov text, open boolean NOT NULL, ended date, rule text, detail text"},
	{"OTSUS", "decision", []string{"id", "parent", "in_force", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, parent bigint NOT NULL, in_force boolean NOT NULL, amount numeric, rule text, detail text"},
	{"MAKSE", "payment", []string{"id", "parent", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, parent bigint NOT NULL, amount numeric, rule text, detail text"},
	{"JUHTUMIPLAAN", "case_plan", []string{"id", "parent", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, parent bigint NOT NULL, amount numeric, rule text, detail text"},
	{"TOIMING", "activity", []string{"id", "parent", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, parent bigint NOT NULL, amount numeric, rule text, detail text"},
	{"DOKUMENT", "document", []string{"id", "parent", "amount", "rule", "detail"},
		"id bigint PRIMARY KEY, parent bigint NOT NULL, amount numeric, rule text, detail text"},
}

// leaves hang on one parent and are live when it is loaded. Each group
// depends only on what the plan SQL computed before it and on the groups'
// own earlier members, so the groups can be computed at once.
var leaves = [][]struct{ table, star1, parent, label string }{
	{{"decision", "OTSUS", "proceeding", "MENETLUS"}, {"payment", "MAKSE", "decision", "OTSUS"}},
	{{"activity", "TOIMING", "proceeding", "MENETLUS"}, {"case_plan", "JUHTUMIPLAAN", "proceeding", "MENETLUS"}, {"document", "DOKUMENT", "proceeding", "MENETLUS"}},
}

// WorkSchema is the schema that holds one run's plan.
func WorkSchema(runID int64) string { return fmt.Sprintf("migration_work_%d", runID) }

// CreatePlan creates the run's work schema with empty plan tables.
func CreatePlan(ctx context.Context, conn *pgx.Conn, runID int64) error {
	w := WorkSchema(runID)
	var b strings.Builder
	fmt.Fprintf(&b, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;\n", w, w)
	for _, t := range PlanTables {
		fmt.Fprintf(&b, "CREATE UNLOGGED TABLE %s.%s (%s);\n", w, t.Name, t.DDL)
	}
	if _, err := conn.Exec(ctx, b.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("load: create plan: %w", err)
	}
	return nil
}

// DropPlan removes a run's work schema.
func DropPlan(ctx context.Context, conn *pgx.Conn, runID int64) error {
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+WorkSchema(runID)+" CASCADE"); err != nil {
		return fmt.Errorf("load: drop plan: %w", err)
	}
	return nil
}

// CopyPlan writes rows into a plan table with COPY.
func CopyPlan(ctx context.Context, conn *pgx.Conn, runID int64, t PlanTable, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := pgcopy.CopyRows(ctx, conn, pgx.Identifier{WorkSchema(runID), t.Name}, t.Columns, rows)
	if err != nil {
		return fmt.Errorf("load: plan %s: %w", t.Star1, err)
	}
	return nil
}

// OutcomeStep is a part of the outcome rules: it can run once the plan
// tables of the STAR1 tables in Needs are filled and the steps in After
// have run.
type OutcomeStep struct {
	Name  string
	Needs []string // STAR1 tables
	After []int    // indexes into the steps
	sql   string
}

// Run runs the step on conn.
func (s OutcomeStep) Run(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, s.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("load: outcome rules (%s): %w", s.Name, err)
	}
	return nil
}

// OutcomeSteps are the outcome rules of a run as steps, in an order that
// runs each after its prerequisites; the last step closes the plan (every
// row in scope until Scope says otherwise). Applied in turn, or in
// parallel as their prerequisites allow, they fill the tables <name>_out
// with every row's outcome, rule, detail, municipality, money and resolved
// person ids.
func OutcomeSteps(runID int64, asOf time.Time, liveYears int) []OutcomeStep {
	w := WorkSchema(runID)
	ws := asOf.AddDate(-liveYears, 0, 0)
	r := strings.NewReplacer("{{w}}", w,
		"{{ws}}", "DATE '"+ws.Format(time.DateOnly)+"'",
		"{{asof}}", "DATE '"+asOf.Format(time.DateOnly)+"'")
	steps := []OutcomeStep{{
		Name:  "persons, relations, applications, proceedings",
		Needs: []string{"ISIK", "ISIKU_SEOS", "POORDUMINE", "MENETLUS", "OTSUS"},
		sql:   r.Replace(planSQL) + fmt.Sprintf("ALTER TABLE %s.relation_out ADD PRIMARY KEY (id);\n", w),
	}}
	last := OutcomeStep{Name: "scope", After: []int{0}}
	for _, g := range leaves {
		step := OutcomeStep{After: []int{0}}
		var b strings.Builder
		for _, l := range g {
			step.Needs = append(step.Needs, l.star1)
			step.Name += l.table + "s "
			fmt.Fprintf(&b, `
CREATE UNLOGGED TABLE %[1]s.%[2]s_out AS
WITH s AS (
  SELECT c.*, %[1]s.parent_state(c.parent, p.outcome) AS state, p.outcome IN ('loaded', 'merged') AS live, p.kov AS pkov
    FROM %[1]s.%[2]s c LEFT JOIN %[1]s.%[3]s_out p ON p.id = c.parent)
SELECT id, NULL::uuid AS star2_id, pkov AS kov, amount,
       %[1]s.child_outcome(state, live, rule) AS outcome, %[1]s.child_rule(state, live, rule) AS rule,
       %[1]s.child_detail(state, live, rule, detail, '%[4]s ' || parent) AS detail,
       NULL::uuid AS person_star2, NULL::uuid AS related_star2
  FROM s;
ALTER TABLE %[1]s.%[2]s_out ADD PRIMARY KEY (id);
`, w, l.table, l.parent, l.label)
		}
		step.Name = strings.TrimSpace(step.Name)
		step.sql = b.String()
		last.After = append(last.After, len(steps))
		steps = append(steps, step)
	}
	var b strings.Builder
	for _, t := range PlanTables {
		fmt.Fprintf(&b, "ALTER TABLE %s.%s_out ADD COLUMN in_scope boolean NOT NULL DEFAULT true;\n", w, t.Name)
	}
	last.sql = b.String()
	return append(steps, last)
}

// PlanFor returns the plan table of a STAR1 table.
func PlanFor(star1 string) (PlanTable, bool) {
	for _, t := range PlanTables {
		if t.Star1 == star1 {
			return t, true
		}
	}
	return PlanTable{}, false
}

// Scope limits a batch to municipalities: a row is in scope when the STAR2
// code of its municipality is one of kovs; so are the applications and
// persons that rows in scope refer to (their foreign keys must hold), and
// the surviving duplicate of a person in scope. kovMap maps every STAR1
// municipality code to its STAR2 code.
//
// A row whose municipality is no STAR2 municipality (an orphan whose
// parent STAR1 does not hold, so that it has no municipality at all, or
// one whose code municipalities.csv does not map) belongs to no batch by
// its municipality. It is in the scope of the batch that the bookkeeping
// says wrote it, and, when no batch has yet, of this one: so the batches
// of all municipalities together account for every STAR1 row.
func Scope(ctx context.Context, conn *pgx.Conn, runID int64, batchName string, kovMap map[string]string, kovs []string) error {
	w := WorkSchema(runID)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE UNLOGGED TABLE %s.kov_map (raw text PRIMARY KEY, star2 text NOT NULL)", w)); err != nil {
		return fmt.Errorf("load: scope: %w", err)
	}
	rows := make([][]any, 0, len(kovMap))
	for raw, code := range kovMap {
		rows = append(rows, []any{raw, code})
	}
	if _, err := pgcopy.CopyRows(ctx, conn, pgx.Identifier{w, "kov_map"}, []string{"raw", "star2"}, rows); err != nil {
		return fmt.Errorf("load: scope: %w", err)
	}
	batch := &pgx.Batch{}
	for _, t := range PlanTables {
		batch.Queue(fmt.Sprintf("UPDATE %[1]s.%[2]s_out o SET in_scope = coalesce((SELECT k.star2 = ANY($1) FROM %[1]s.kov_map k WHERE k.raw = o.kov), false)", w, t.Name), kovs)
		batch.Queue(fmt.Sprintf(`UPDATE %[1]s.%[2]s_out o SET in_scope = true WHERE NOT in_scope
			AND NOT EXISTS (SELECT FROM %[1]s.kov_map k WHERE k.raw = o.kov)
			AND NOT EXISTS (SELECT FROM migration.row_map rm WHERE rm.star1_table = '%[3]s' AND rm.star1_id = o.id AND rm.batch <> $1)`, w, t.Name, t.Star1), batchName)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `UPDATE %[1]s.application_out SET in_scope = true WHERE NOT in_scope AND id IN (
  SELECT p.application FROM %[1]s.proceeding p JOIN %[1]s.proceeding_out o USING (id) WHERE o.in_scope);
UPDATE %[1]s.person_out SET in_scope = true WHERE NOT in_scope AND id IN (
  SELECT a.person FROM %[1]s.application a JOIN %[1]s.application_out o USING (id) WHERE o.in_scope
  UNION SELECT p.person FROM %[1]s.proceeding p JOIN %[1]s.proceeding_out o USING (id) WHERE o.in_scope
  UNION SELECT r.person FROM %[1]s.relation r JOIN %[1]s.relation_out o USING (id) WHERE o.in_scope
  UNION SELECT r.related FROM %[1]s.relation r JOIN %[1]s.relation_out o USING (id) WHERE o.in_scope);
UPDATE %[1]s.person_out SET in_scope = true WHERE NOT in_scope AND outcome = 'loaded' AND star2_id IN (
  SELECT star2_id FROM %[1]s.person_out WHERE in_scope AND outcome = 'merged');
`, w)
	for _, stmt := range strings.Split(strings.TrimSpace(b.String()), ";\n") {
		batch.Queue(strings.TrimSuffix(strings.TrimSpace(stmt), ";"))
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("load: scope: %w", err)
	}
	return nil
}
