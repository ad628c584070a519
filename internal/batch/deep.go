package batch

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/internal/pgcopy"
	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/load"
	"github.com/starmig/starmig/mapping"
)

const deepChunk = 2000

// deepBytes ends a chunk of expected rows early when its documents and
// texts reach it, so that large documents are not gathered by the
// thousand.
const deepBytes = 32 << 20

// deepCheck recomputes every loaded row from STAR1 by the rules and compares
// it, column by column, with the row read back from STAR2. The expected rows
// go by COPY into temporary tables shaped like STAR2's, so the comparison
// runs in the database in constant memory here.
func deepCheck(ctx context.Context, conn *pgx.Conn, dsn secret.DSN, snap extract.Snapshot, cfg *mapping.Config, sc scope, maps *mapping.Mappings, rep *Report, m meter) error {
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS exp_person_ref;
		CREATE TEMP TABLE exp_person_ref (star1_id bigint PRIMARY KEY, star2_id uuid NOT NULL)`, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("reconcile --deep: %w", err)
	}
	for _, mt := range mapping.Tables {
		t, err := extract.TableByName(mt.Star1)
		if err != nil {
			return err
		}
		exp := "exp_" + mt.Star2
		// Shaped like STAR2's table but without its NOT NULL constraints
		// (which LIKE would copy): a loaded row that the rules no longer
		// load may map to a NULL there now (a code without a mapping,
		// with --allow-unmapped), and is a finding, not a failed COPY.
		if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s;
			CREATE TEMP TABLE %[1]s AS SELECT t.*, NULL::bigint AS star1_id, NULL::bigint AS person_star1, NULL::bigint AS related_star1, NULL::text AS other_kov
				FROM star2.%[2]s t WITH NO DATA;
			ALTER TABLE %[1]s ADD PRIMARY KEY (star1_id)`, exp, mt.Star2),
			pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("reconcile --deep: %w", err)
		}
		if err := expected(ctx, conn, dsn, snap, cfg, sc, maps, mt, t, exp, m); err != nil {
			return err
		}
		if err := diff(ctx, conn, mt, exp, sc.batch, rep); err != nil {
			return err
		}
	}
	return nil
}

// expected copies the rules' version of every loaded row of a table.
func expected(ctx context.Context, conn *pgx.Conn, dsn secret.DSN, snap extract.Snapshot, cfg *mapping.Config, sc scope, maps *mapping.Mappings, mt mapping.Table, t extract.Table, exp string, m meter) error {
	read, err := connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer read.Close(context.Background())
	// Rows loaded are compared. Of persons, those neither loaded nor
	// merged are read too, for the STAR2 person the rules give them
	// (exp_person_ref): a row left in STAR2 may refer to one whose
	// duplicate carries its STAR2 person on.
	outcomes := "outcome = 'loaded'"
	if mt.Star1 == "ISIK" {
		outcomes = "outcome <> 'merged'"
	}
	rows, err := read.Query(ctx, `SELECT star1_id, kov, outcome = 'loaded', batch FROM migration.row_map WHERE star1_table = $1 AND `+outcomes+` ORDER BY star1_id`, mt.Star1)
	if err != nil {
		return fmt.Errorf("reconcile --deep: %w", err)
	}
	defer rows.Close()
	var id int64
	var kov pgtype.Text
	var loaded bool
	var wrote string
	have := false
	next := func() error {
		have = rows.Next()
		if !have {
			return rows.Err()
		}
		return rows.Scan(&id, &kov, &loaded, &wrote)
	}
	var refs [][]any
	flushRefs := func() error {
		if len(refs) == 0 {
			return nil
		}
		if _, err := pgcopy.CopyRows(ctx, conn, pgx.Identifier{"exp_person_ref"}, []string{"star1_id", "star2_id"}, refs); err != nil {
			return fmt.Errorf("reconcile --deep: %s: %w", mt.Star1, err)
		}
		refs = refs[:0]
		return nil
	}
	if err := next(); err != nil {
		return err
	}
	cols := append(append([]string{}, mt.Columns...), "star1_id", "person_star1", "related_star1", "other_kov")
	var buf [][]any
	size := 0      // bytes of the documents and texts in buf
	var seen int64 // rows read from STAR1, in the batch or not
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := pgcopy.CopyRows(ctx, conn, pgx.Identifier{exp}, cols, buf); err != nil {
			return fmt.Errorf("reconcile --deep: %s: %w", mt.Star1, err)
		}
		clear(buf) // a document's bytes may go
		buf, size = buf[:0], 0
		return nil
	}
	m.report("deep", t.Name, 0) // the clock of its rate starts
	err = snap.Scan(ctx, t, nil, nil, func(r extract.Row) error {
		if seen++; seen%deepChunk == 0 {
			m.report("deep", t.Name, seen)
		}
		rid, _ := r[0].(int64)
		for have && id < rid {
			if err := next(); err != nil {
				return err
			}
		}
		if !have || id != rid {
			return nil
		}
		if !loaded {
			res := mt.Map(r, mapping.Refs{}, cfg)
			if refs = append(refs, []any{rid, load.PGValues(res.Values[:1])[0]}); len(refs) == deepChunk {
				if err := flushRefs(); err != nil {
					return err
				}
			}
			return next()
		}
		// A row of another municipality that this batch wrote last (a
		// person its rows refer to) is compared here too, as well as by
		// its own municipality's batch: this batch's runs met its
		// conflicts, and until that batch runs no other compares it.
		booked := kovKey(maps, nullText(kov))
		ours := wrote == sc.batch
		if !ours && !sc.covers(booked, wrote) {
			return nil
		}
		if i, ok := extract.Positions[t.Name]["KOV_KOOD"]; ok {
			// Moved in STAR1 to a municipality of another batch since it
			// was loaded: that batch's reconciliation names it ("changed:
			// municipality"), and its next run writes it.
			if now := kovKey(maps, r[i]); !sc.covers(now, wrote) && !(ours && now == booked) {
				return nil
			}
		}
		res := mt.Map(r, mapping.Refs{}, cfg)
		row := append(append([]any{}, load.PGValues(res.Values)...), rid, nil, nil, nil)
		if !sc.covers(booked, wrote) {
			row[len(row)-1] = booked // compared because this batch wrote it
		}
		for i, v := range row {
			// STAR1 text that is not UTF-8 (the stand-in's) is in no
			// STAR2 row: the database refused it, and the row was left in
			// STAR2 as the migration last wrote it. Its stray bytes
			// become U+FFFD, so that the row is compared, and differs
			// there, instead of stopping the COPY.
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				row[i] = strings.ToValidUTF8(s, "\uFFFD")
			}
		}
		for i, col := range mt.PersonRefs {
			row[len(mt.Columns)+1+i] = get(t.Name, r, col)
		}
		buf = append(buf, row)
		size += extract.ValueBytes(row)
		if len(buf) == deepChunk || size >= deepBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		return next()
	})
	if err != nil {
		return err
	}
	m.report("deep", t.Name, seen)
	if err := flushRefs(); err != nil {
		return err
	}
	return flush()
}

// diff names every loaded row whose STAR2 row is missing or differs from
// what the rules give, with the columns that differ.
func diff(ctx context.Context, conn *pgx.Conn, mt mapping.Table, exp string, batch string, rep *Report) error {
	var fix strings.Builder
	refCols := []string{"person_id", "related_person_id"}
	for i := range mt.PersonRefs {
		fmt.Fprintf(&fix, `UPDATE %[1]s e SET %[2]s = rm.star2_id FROM migration.row_map rm
			WHERE rm.star1_table = 'ISIK' AND rm.star1_id = e.%[3]s AND rm.star2_id IS NOT NULL;
		UPDATE %[1]s e SET %[2]s = r.star2_id FROM exp_person_ref r WHERE r.star1_id = e.%[3]s;`, exp, refCols[i], []string{"person_star1", "related_star1"}[i])
	}
	if fix.Len() > 0 {
		if _, err := conn.Exec(ctx, fix.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("reconcile --deep: %s: %w", mt.Star1, err)
		}
	}
	var which []string
	for _, c := range mt.Columns[1:] {
		which = append(which, fmt.Sprintf("CASE WHEN e.%[1]s IS DISTINCT FROM t.%[1]s THEN '%[1]s' END", c))
	}
	// A row a decision keeps as STAR2 has it (load.Resolve) is no finding
	// while it stays as it was then; checkSTAR2 counts it.
	//
	// A row its last run left in STAR2 (lc, load.LeftByTheRules: the
	// rules now exclude, quarantine or archive it) is compared with the
	// STAR2 row the bookkeeping names, which is not e.id when the rules
	// would now give it another id (a personal code made invalid), and a
	// decision to keep it is tested on that row. Such a finding says that
	// the row was left, and how to settle it.
	q := fmt.Sprintf(`SELECT e.star1_id, coalesce(rm.star2_id, e.id)::text, e.id::text, t.id IS NULL, rm.star2_id IS DISTINCT FROM e.id,
	       concat_ws(', ', %[3]s), res.id IS NOT NULL, lc.run_id IS NOT NULL, coalesce(lc.run_id, 0), coalesce(lc.detail, ''), coalesce(rm.batch, ''),
	       t.id IS NOT NULL AND rm.target_hash IS NOT NULL AND rm.target_hash <> decode(md5(t::text), 'hex'), coalesce(e.other_kov, '')
		FROM %[1]s e
		LEFT JOIN migration.row_map rm ON rm.star1_table = $1 AND rm.star1_id = e.star1_id
		LEFT JOIN migration.conflict lc ON %[6]s
		LEFT JOIN star2.%[2]s t ON t.id = CASE WHEN lc.run_id IS NULL THEN e.id ELSE rm.star2_id END
		%[4]s
		WHERE CASE WHEN lc.run_id IS NULL
		      THEN (t.id IS NULL OR rm.star2_id IS DISTINCT FROM e.id OR concat_ws(', ', %[3]s) <> '')
		           AND NOT (rm.star2_id IS NOT DISTINCT FROM e.id AND %[5]s)
		      ELSE (t.id IS NULL OR concat_ws(', ', %[3]s) <> '') AND NOT %[5]s END
		ORDER BY e.star1_id`, exp, mt.Star2, strings.Join(which, ", "), load.KeptJoin, load.KeptPredicate, load.LeftBy("lc"))
	rows, err := conn.Query(ctx, q, mt.Star1)
	if err != nil {
		return fmt.Errorf("reconcile --deep: %s: %w", mt.Star1, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, leftRun int64
		var star2, want, cols, report, wrote, other string
		var missing, wrongID, decided, left, edited bool
		if err := rows.Scan(&id, &star2, &want, &missing, &wrongID, &cols, &decided, &left, &leftRun, &report, &wrote, &edited, &other); err != nil {
			return fmt.Errorf("reconcile --deep: %s: %w", mt.Star1, err)
		}
		f := Finding{Table: mt.Star1, Star1ID: id, Star2ID: want, Kind: "deep",
			Detail: fmt.Sprintf("star2.%s %s differs from what the rules give in: %s", mt.Star2, want, cols)}
		switch {
		case left:
			// Reported by the run as "now quarantined invalid_period;
			// left in STAR2 as it is".
			f.Star2ID, f.Kind = star2, load.LeftByTheRules
			f.Detail = fmt.Sprintf("star2.%s %s: %s (run %d), and differs from STAR1's row in: %s", mt.Star2, star2, report, leftRun, cols)
			if missing {
				f.Detail = fmt.Sprintf("star2.%s has no row %s, which was %s (run %d)", mt.Star2, star2, report, leftRun)
			}
			if !decided {
				f.Detail += "; " + resolveList(wrote, batch) + ", --keep-star2 acknowledges it"
			}
		case wrongID:
			f.Detail = fmt.Sprintf("the bookkeeping names another STAR2 row than %s", want)
		case missing:
			f.Detail = fmt.Sprintf("star2.%s has no row %s", mt.Star2, want)
			if !decided {
				f.Detail += "; deleted in STAR2 since the migration wrote it: " + resolveList(wrote, batch) + ", --keep-star2 accepts the deletion"
			}
		case edited && !decided:
			// Social workers change migrated rows: the engineer needs to
			// tell such a row from one the migration got wrong.
			f.Detail += fmt.Sprintf("; changed in STAR2 since the migration wrote it: starmig resolve --batch %s --row %s:%d --keep-star2 accepts it", wrote, mt.Star1, id)
		}
		if decided {
			f.Detail += keptNoLonger
		}
		if other != "" {
			// Compared because this batch wrote it last: a run of this
			// batch writes it again only while its rows refer to it, and
			// a run of the batch of its municipality does too.
			f.Detail += fmt.Sprintf(" (a row of municipality %s, written by this batch because its rows refer to it)", other)
		}
		rep.add(f)
	}
	return rows.Err()
}
