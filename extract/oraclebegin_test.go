package extract

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// recordingDriver stands in for go-ora to show what Begin sends on the
// session: each statement, whether it ran in a transaction of
// database/sql's, and how that transaction ended.
type recordingDriver struct {
	mu     sync.Mutex
	events []string
	scn    string // "" when the account may not read the SCN
	// noFlashback refuses a read AS OF an SCN, as Oracle does for an
	// account without FLASHBACK on the table.
	noFlashback bool
}

func (d *recordingDriver) record(e string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, e)
}

func (d *recordingDriver) Connect(context.Context) (driver.Conn, error) {
	return &recordingConn{d: d}, nil
}
func (d *recordingDriver) Driver() driver.Driver { return nil }

type recordingConn struct {
	d    *recordingDriver
	inTx bool
}

func (c *recordingConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not used") }
func (c *recordingConn) Close() error                        { return nil }
func (c *recordingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *recordingConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	c.d.record("begin")
	c.inTx = true
	return recordingTx{c}, nil
}

func (c *recordingConn) where() string {
	if c.inTx {
		return "in tx: "
	}
	return "autocommit: "
}

func (c *recordingConn) ExecContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Result, error) {
	c.d.record(c.where() + q)
	return driver.RowsAffected(0), nil
}

func (c *recordingConn) QueryContext(_ context.Context, q string, _ []driver.NamedValue) (driver.Rows, error) {
	c.d.record(c.where() + q)
	switch {
	case q == OracleSCNSQL && c.d.scn == "":
		return nil, errors.New("ORA-00904: \"DBMS_FLASHBACK\".\"GET_SYSTEM_CHANGE_NUMBER\": invalid identifier")
	case q == OracleSCNSQL:
		return &recordingRows{vals: []driver.Value{c.d.scn}}, nil
	case c.d.noFlashback && strings.Contains(q, " AS OF SCN "):
		return nil, errors.New("ORA-01031: insufficient privileges")
	case strings.HasPrefix(q, "SELECT COUNT(*)"):
		return &recordingRows{vals: []driver.Value{"42"}}, nil
	}
	return &recordingRows{}, nil
}

type recordingTx struct{ c *recordingConn }

func (t recordingTx) Commit() error   { t.c.d.record("commit"); t.c.inTx = false; return nil }
func (t recordingTx) Rollback() error { t.c.d.record("rollback"); t.c.inTx = false; return nil }

type recordingRows struct {
	vals []driver.Value // one row, or none
	done bool
}

func (r *recordingRows) Columns() []string { return []string{"X"} }
func (r *recordingRows) Close() error      { return nil }
func (r *recordingRows) Next(dest []driver.Value) error {
	if r.vals == nil || r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, r.vals)
	return nil
}

// countISIK begins a snapshot on d, counts ISIK in it and closes it.
func countISIK(t *testing.T, d *recordingDriver) {
	t.Helper()
	src := &oracleSource{sqlSource{dsn: "oracle://reader@star1/STAR1", db: sql.OpenDB(d)}}
	defer src.Close()
	ctx := context.Background()
	snap, err := src.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	isik, _ := TableByName("ISIK")
	if _, err := Count(ctx, snap, isik); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOracleSnapshotWithoutSCNIsOneReadOnlyTransaction: when the account
// may not read the SCN, the snapshot is a read-only transaction that
// database/sql began, so the driver sends no commit that would end it
// (go-ora commits in autocommit mode when it executes a statement again,
// as for a query with LOBs). SET TRANSACTION READ ONLY is its first
// statement, every read runs in it, and it ends with a rollback.
func TestOracleSnapshotWithoutSCNIsOneReadOnlyTransaction(t *testing.T) {
	d := &recordingDriver{}
	countISIK(t, d)
	begin := -1
	for i, e := range d.events {
		switch {
		case e == "begin":
			begin = i
		case e == "commit":
			t.Errorf("the snapshot's transaction was committed: %v", d.events)
		case begin < 0 && strings.HasPrefix(e, "autocommit: SELECT") && !strings.Contains(e, OracleSCNSQL):
			t.Errorf("read outside the transaction: %s", e)
		case begin >= 0 && i == begin+1 && e != "in tx: "+OracleReadOnlySQL:
			t.Errorf("the transaction's first statement is %q, want %s", e, OracleReadOnlySQL)
		case begin >= 0 && i > begin && e != "rollback" && !strings.HasPrefix(e, "in tx: "):
			t.Errorf("after the transaction began: %s", e)
		}
	}
	if begin < 0 || d.events[len(d.events)-1] != "rollback" {
		t.Errorf("no transaction begun and rolled back: %v", d.events)
	}
	all := strings.Join(d.events, "\n")
	if !strings.Contains(all, "in tx: SELECT COUNT(*) FROM STAR1.ISIK") {
		t.Errorf("the count did not run in the transaction: %v", d.events)
	}
	// Values as text and text keys in byte order, whatever the database's
	// language settings.
	for _, want := range []string{"NLS_NUMERIC_CHARACTERS = '.,'", "NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'", "NLS_SORT = BINARY", "NLS_COMP = BINARY"} {
		if !strings.Contains(all, "autocommit: ALTER SESSION SET "+want) {
			t.Errorf("the session never set %s: %v", want, d.events)
		}
	}
}

// TestOracleSnapshotAtSCNNeedsNoTransaction: with the SCN, every read
// names it and no transaction is begun, once every table was found to be
// readable at it.
func TestOracleSnapshotAtSCNNeedsNoTransaction(t *testing.T) {
	d := &recordingDriver{scn: "81234567"}
	countISIK(t, d)
	for _, e := range d.events {
		if e == "begin" || strings.Contains(e, "FROM STAR1.") && !strings.Contains(e, "AS OF SCN 81234567") {
			t.Errorf("%s", e)
		}
	}
	all := strings.Join(d.events, "\n")
	for _, tb := range Tables {
		if !strings.Contains(all, "autocommit: "+ShapeSQL(oracleDialect{scn: "81234567"}, tb)) {
			t.Errorf("%s was not checked AS OF the SCN: %v", tb.Name, d.events)
		}
	}
}

// TestOracleSnapshotWithoutFlashbackIsOneReadOnlyTransaction: an account
// that may read the SCN but not query a table AS OF it (EXECUTE on
// DBMS_FLASHBACK without FLASHBACK on the tables) reads in a read-only
// transaction instead of having every read refused.
func TestOracleSnapshotWithoutFlashbackIsOneReadOnlyTransaction(t *testing.T) {
	d := &recordingDriver{scn: "81234567", noFlashback: true}
	countISIK(t, d)
	all := strings.Join(d.events, "\n")
	if !strings.Contains(all, "begin\nin tx: "+OracleReadOnlySQL) || !strings.Contains(all, "in tx: SELECT COUNT(*) FROM STAR1.ISIK") ||
		d.events[len(d.events)-1] != "rollback" {
		t.Errorf("not one read-only transaction: %v", d.events)
	}
	for _, e := range d.events {
		if strings.HasPrefix(e, "in tx: ") && strings.Contains(e, "AS OF SCN") {
			t.Errorf("read AS OF the SCN in the transaction: %s", e)
		}
	}
}
