package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

// TestResolveCommand lists a conflict, refuses what cannot be decided with
// the right exit code, and records a decision with who and why.
func TestResolveCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 300, 8)
	target := star2(t)
	migrate := func() (int, string) {
		code, _, stderr := run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
			"--batch", "north", "--as-of", "2026-11-01", "-q")
		return code, stderr
	}
	if code, stderr := migrate(); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id, untouched int64
	if err := conn.QueryRow(ctx, `SELECT min(star1_id), max(star1_id) FROM migration.row_map WHERE star1_table = 'MENETLUS' AND outcome = 'loaded'`).Scan(&id, &untouched); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE star2.proceeding SET responsible_user = 'tiina.social' WHERE id = $1", mapping.ID("MENETLUS", id)); err != nil {
		t.Fatal(err)
	}
	src, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Exec("UPDATE MENETLUS SET VASTUTAJA = 'kadri.kask' WHERE MENETLUS_ID = ?", id); err != nil {
		t.Fatal(err)
	}
	if code, stderr := migrate(); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	resolve := func(args ...string) (int, string, string) {
		return run(t, ctx, append([]string{"resolve", "--target", target, "--batch", "north"}, args...)...)
	}
	row := fmt.Sprintf("MENETLUS:%d", id)
	code, out, stderr := resolve("--list")
	if code != 0 || !strings.Contains(out, "1 open conflict") || !strings.Contains(out, row) {
		t.Errorf("--list: exit %d\n%s%s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"--row", row, "--reason", "x"},                                 // no decision
		{"--row", row, "--keep-star2", "--take-star1", "--reason", "x"}, // two
		{"--row", row, "--keep-star2"},                                  // no reason
		{"--keep-star2", "--reason", "x"},                               // no rows
		{"--row", row, "--all", "--keep-star2", "--reason", "x"},        // rows and --all
		{"--row", "MENETLUS-1", "--keep-star2", "--reason", "x"},
		{"--list", "--keep-star2"},
	} {
		if code, _, stderr := resolve(args...); code != exitUsage || !strings.Contains(stderr, "starmig:") {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	code, _, stderr = resolve("--row", row, "--row", fmt.Sprintf("MENETLUS:%d", untouched), "--keep-star2", "--reason", "ticket 5521")
	if code != 1 || !strings.Contains(stderr, "nothing was recorded") || !strings.Contains(stderr, fmt.Sprintf("MENETLUS %d: star2.proceeding", untouched)) {
		t.Errorf("a row STAR2 holds as written: exit %d: %s", code, stderr)
	}
	code, out, stderr = resolve("--row", row, "--keep-star2", "--reason", "ticket 5521", "--operator", "mari.migration", "--json")
	var done []struct {
		Table    string `json:"table"`
		Star1ID  int64  `json:"star1_id"`
		Decision string `json:"decision"`
		Conflict bool   `json:"was_conflict"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &done) != nil || len(done) != 1 || done[0].Star1ID != id || done[0].Decision != "keep_star2" || !done[0].Conflict {
		t.Errorf("keep: exit %d\n%s%s", code, out, stderr)
	}
	var who, why string
	if err := conn.QueryRow(ctx, "SELECT operator, reason FROM migration.resolution WHERE star1_id = $1 AND current", id).Scan(&who, &why); err != nil || who != "mari.migration" || why != "ticket 5521" {
		t.Errorf("on record: %q %q %v", who, why, err)
	}
	if code, out, _ := resolve("--list"); code != 0 || !strings.Contains(out, "no open conflict") {
		t.Errorf("--list after the decision: exit %d\n%s", code, out)
	}
	if code, out, _ := resolve("--all", "--keep-star2", "--reason", "x"); code != 0 || !strings.Contains(out, "nothing was recorded") {
		t.Errorf("--all with nothing open: exit %d\n%s", code, out)
	}
	code, out, stderr = run(t, ctx, "reconcile", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"), "--batch", "north", "--deep")
	if code != 0 || !strings.Contains(out, "1 loaded row that a decision keeps as STAR2 has it") {
		t.Errorf("reconcile --deep after the decision: exit %d\n%s%s", code, out, stderr)
	}

	// An activity deleted in STAR2: the run whose reconciliation names it
	// still says what it did, and the finding says how to settle it.
	var activity int64
	if err := conn.QueryRow(ctx, `SELECT min(star1_id) FROM migration.row_map WHERE star1_table = 'TOIMING' AND outcome = 'loaded'`).Scan(&activity); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM star2.activity WHERE id = $1", mapping.ID("TOIMING", activity)); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, ctx, "migrate", "--source", "sqlite:"+db, "--target", target, "--mappings", filepath.Join(dir, "mappings"),
		"--batch", "north", "--as-of", "2026-11-01")
	if code != exitFindings || !strings.Contains(out, "Batch north (run 3, as of 2026-11-01) done") || !strings.Contains(out, "  TOIMING  ") ||
		!strings.Contains(out, "Reconciliation: findings, listed below.") {
		t.Errorf("run with a finding: exit %d, stdout:\n%s", code, out)
	}
	if want := fmt.Sprintf("TOIMING %d: missing_in_star2", activity); !strings.Contains(stderr, want) || !strings.Contains(stderr, "--keep-star2 accepts the deletion") {
		t.Errorf("run with a finding: stderr does not name %q and how to settle it:\n%s", want, stderr)
	}
	if code, out, _ := resolve("--list"); code != 0 || !strings.Contains(out, fmt.Sprintf("TOIMING:%d", activity)) || !strings.Contains(out, "deleted in STAR2 since the migration wrote it") {
		t.Errorf("--list with a row deleted in STAR2: exit %d\n%s", code, out)
	}
	if code, out, stderr := resolve("--all", "--keep-star2", "--reason", "duplicate entry removed by the case worker"); code != 0 || !strings.Contains(out, "(deleted in STAR2)") {
		t.Errorf("--all --keep-star2: exit %d\n%s%s", code, out, stderr)
	}
	if code, stderr := migrate(); code != 0 {
		t.Errorf("the run after the deletion was kept: exit %d: %s", code, stderr)
	}
}

func TestConflictListSaysWhyEachRowIsOpen(t *testing.T) {
	var b strings.Builder
	writeConflicts(&b, "tallinn", []load.Conflict{
		{Kind: load.ChangedOnBothSides, Table: "MENETLUS", Star1ID: 12, Star2Table: "proceeding", Star2ID: "p-12", RunID: 3},
		{Kind: load.ChangedOnBothSides, Table: "MENETLUS", Star1ID: 13, Star2Table: "proceeding", Star2ID: "p-13", RunID: 3,
			Detail: load.BothSides + "; STAR2 differs from what the rules give from STAR1 now in: responsible_user"},
		{Kind: load.LeftByTheRules, Table: "ISIK", Star1ID: 5, Star2Table: "person", Star2ID: "i-5", RunID: 4,
			Detail: "now excluded_deleted; left in STAR2 as it is"},
		{Kind: load.DeletedInSTAR2, Table: "TOIMING", Star1ID: 7, Star2Table: "activity", Star2ID: "a-7", RunID: 4,
			Detail: "deleted in STAR2 since the migration wrote it; keep_star2 accepts the deletion"},
	})
	for _, want := range []string{
		"Batch tallinn: 4 open conflicts:",
		"MENETLUS:12  star2.proceeding p-12  (run 3)  changed in STAR1 and in STAR2 since the migration wrote it\n",
		"MENETLUS:13  star2.proceeding p-13  (run 3)  changed in STAR1 and in STAR2 since the migration wrote it; STAR2 differs from what the rules give from STAR1 now in: responsible_user\n",
		"ISIK:5  star2.person i-5  (run 4)  now excluded_deleted; left in STAR2 as it is",
		"TOIMING:7  star2.activity a-7  (run 4)  deleted in STAR2 since the migration wrote it; keep_star2 accepts the deletion",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("list:\n%s\nwant it to say %q", b.String(), want)
		}
	}
}
