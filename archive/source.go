package archive

import (
	"context"

	"github.com/starmig/starmig/extract"
)

// WriteAll archives every table of a STAR1 snapshot, KOV and
// KLASSIFIKAATOR first, each row read once. progress, when set, is told
// the rows of each table as they pass, 0 when the table starts.
func WriteAll(ctx context.Context, snap extract.Snapshot, w *Writer, progress func(table string, rows int64)) error {
	for _, t := range extract.Tables {
		if err := w.Table(t); err != nil {
			return err
		}
		var n int64
		if progress != nil {
			progress(t.Name, 0) // the clock of its rate starts
		}
		err := snap.Scan(ctx, t, nil, nil, func(r extract.Row) error {
			n++
			if progress != nil && n%10000 == 0 {
				progress(t.Name, n)
			}
			return w.Row(r)
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(t.Name, n)
		}
	}
	return nil
}
