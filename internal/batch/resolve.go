package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/starmig/starmig/internal/secret"
	"github.com/starmig/starmig/load"
)

// ResolveOptions say which loaded rows changed in STAR2 a migration
// engineer decides on, and how.
type ResolveOptions struct {
	Target secret.DSN
	Batch  string
	Rows   []load.RowRef
	// AllConflicts adds every open conflict of the batch that has no
	// decision yet.
	AllConflicts bool
	Decision     string // load.KeepSTAR2 or load.TakeSTAR1
	Reason       string
	Operator     string
	Now          func() time.Time
	Wait         time.Duration
}

// Resolve records a decision on rows changed in STAR2 since the migration
// wrote them (load.Resolve). Nothing is recorded unless every row can take
// it.
func Resolve(ctx context.Context, o ResolveOptions) ([]load.Resolved, error) {
	conn, err := openBatch(ctx, o.Target, o.Batch)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows := o.Rows
	if o.AllConflicts {
		open, err := load.Conflicts(ctx, conn, o.Batch)
		if err != nil {
			return nil, err
		}
		for _, c := range open {
			// STAR1's version of a row the rules no longer load, or that
			// STAR2 deleted, is never written: --all --take-star1 takes
			// the rows changed in STAR2 that a run can write over.
			if c.Decision == "" && (o.Decision == load.KeepSTAR2 || c.Kind == load.ChangedOnBothSides || c.Kind == load.AmountChangedInSTAR2) {
				rows = append(rows, load.RowRef{Table: c.Table, ID: c.Star1ID})
			}
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return load.Resolve(ctx, conn, rows, load.Decision{
		Batch: o.Batch, Decision: o.Decision, Reason: o.Reason, Operator: o.Operator, At: o.Now(), Wait: o.Wait,
	})
}

// Conflicts lists the open conflicts of a batch (load.Conflicts).
func Conflicts(ctx context.Context, target secret.DSN, batch string) ([]load.Conflict, error) {
	conn, err := openBatch(ctx, target, batch)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return load.Conflicts(ctx, conn, batch)
}

// openBatch connects to STAR2 and checks that its bookkeeping holds the
// batch, and that the role may read all of star2 (a row hidden from it
// would be listed as deleted in STAR2).
func openBatch(ctx context.Context, target secret.DSN, batch string) (*pgx.Conn, error) {
	conn, err := connect(ctx, target)
	if err != nil {
		return nil, err
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1 FROM migration.batch WHERE name = $1", batch).Scan(&one); err != nil {
		err = batchError(ctx, conn, target, batch, err)
		conn.Close(context.Background())
		return nil, err
	}
	if err := load.CheckSTAR2(ctx, conn, false); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// batchError says why a batch could not be read from the bookkeeping.
func batchError(ctx context.Context, conn *pgx.Conn, target secret.DSN, batch string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("no batch %q in the bookkeeping of %s (%s)", batch, target, batchNames(ctx, conn))
	case load.NoBookkeeping(err):
		return fmt.Errorf("%s holds no migration bookkeeping: no batch was ever migrated into it", target)
	}
	return fmt.Errorf("batch %q: %w", batch, err)
}
