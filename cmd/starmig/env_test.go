package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestMigrateFromEnvironment runs migrate with every input from STARMIG_*
// variables and no flag, then shows that a flag wins over its variable, and
// that a bad value in a variable is a usage error naming the variable.
func TestMigrateFromEnvironment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := genSTAR1(t, dir, 200, 9, "--rate-unmapped", "0.02")
	target := star2(t)
	for k, v := range map[string]string{
		"STARMIG_SOURCE": "sqlite:" + db, "STARMIG_TARGET": target, "STARMIG_MAPPINGS": filepath.Join(dir, "mappings"),
		"STARMIG_BATCH": "from-env", "STARMIG_AS_OF": "2026-10-15", "STARMIG_LIVE_YEARS": "3", "STARMIG_KOV": "0100,0111",
		"STARMIG_WRITERS": "1", "STARMIG_ALLOW_UNMAPPED": "true",
	} {
		t.Setenv(k, v)
	}
	type batchRow struct {
		kov       []string
		asOf      string
		liveYears int
	}
	read := func(name string) batchRow {
		t.Helper()
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var b batchRow
		if err := conn.QueryRow(ctx, "SELECT kov, as_of::text, live_years FROM migration.batch WHERE name = $1", name).Scan(&b.kov, &b.asOf, &b.liveYears); err != nil {
			t.Fatalf("batch %s: %v", name, err)
		}
		return b
	}

	// Every input from the environment. The generated STAR1 holds unmapped
	// codes, so only STARMIG_ALLOW_UNMAPPED lets the batch go on.
	code, out, stderr := run(t, ctx, "migrate", "--json")
	if code != 0 {
		t.Fatalf("migrate from the environment: exit %d: %s", code, stderr)
	}
	var sum struct {
		Batch    string            `json:"batch"`
		AsOf     string            `json:"as_of"`
		Unmapped []json.RawMessage `json:"unmapped_codes"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Batch != "from-env" || sum.AsOf != "2026-10-15" || len(sum.Unmapped) == 0 {
		t.Errorf("summary %+v, want batch from-env as of 2026-10-15 with unmapped codes quarantined", sum)
	}
	if b := read("from-env"); strings.Join(b.kov, ",") != "0100,0111" || b.asOf != "2026-10-15" || b.liveYears != 3 {
		t.Errorf("batch from-env recorded %+v", b)
	}

	// Flags win, 0 included.
	code, _, stderr = run(t, ctx, "migrate", "--batch", "from-flags", "--as-of", "2026-11-01", "--live-years", "0", "--kov", "0100", "--json", "-q")
	if code != 0 {
		t.Fatalf("migrate with flags over the environment: exit %d: %s", code, stderr)
	}
	if b := read("from-flags"); strings.Join(b.kov, ",") != "0100" || b.asOf != "2026-11-01" || b.liveYears != 0 {
		t.Errorf("batch from-flags recorded %+v", b)
	}
	// Without the variable, and with the flag given as false, unmapped
	// codes stop the batch (exit 3).
	if code, _, _ := run(t, ctx, "migrate", "--batch", "strict", "--allow-unmapped=false", "-q"); code != exitFindings {
		t.Errorf("--allow-unmapped=false over STARMIG_ALLOW_UNMAPPED=true: exit %d, want %d", code, exitFindings)
	}

	// A bad value names its variable.
	for env, bad := range map[string]string{"STARMIG_LIVE_YEARS": "five", "STARMIG_WRITERS": "2x", "STARMIG_ALLOW_UNMAPPED": "perhaps"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			code, _, stderr := run(t, ctx, "migrate", "--batch", "bad", "-q")
			if code != exitUsage || !strings.Contains(stderr, env) || !strings.Contains(stderr, bad) {
				t.Errorf("%s=%s: exit %d, %q; want a usage error naming both", env, bad, code, stderr)
			}
		})
	}
}
