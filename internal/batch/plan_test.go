package batch

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/starmig/starmig/extract"
	"github.com/starmig/starmig/mapping"
)

func TestPassOneSkipsOnlyFreeText(t *testing.T) {
	// Pass 1 does not read mapping.FreeText: every row of a STAR1 with every
	// quirk gets the same plan row with those columns as without them.
	ctx := context.Background()
	path, mapsDir := star1(t, 400, 5, nil)
	maps, err := mapping.LoadFolder(mapsDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &mapping.Config{Mappings: maps, AsOf: asOf}
	_, snap, closeSource, err := snapshot(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSource()
	for table, cols := range mapping.FreeText {
		tb, err := extract.TableByName(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range cols {
			if c, ok := tb.Column(name); !ok || c.Kind != extract.Text {
				t.Errorf("%s.%s: not a text column of STAR1", table, name)
			}
		}
	}
	for _, mt := range mapping.Tables {
		tb, _ := extract.TableByName(mt.Star1)
		names, _ := narrow(tb)
		skipped, differ := 0, 0
		err := snap.Scan(ctx, tb, nil, nil, func(r extract.Row) error {
			full := planRow(tb.Name, r, mt.Map(r, mapping.Refs{}, cfg), cfg)
			cut := make(extract.Row, len(r))
			for i, c := range tb.Columns {
				if slices.Contains(names, c.Name) {
					cut[i] = r[i]
				} else if r[i] != nil {
					skipped++
				}
			}
			if got := planRow(tb.Name, cut, mt.Map(cut, mapping.Refs{}, cfg), cfg); !reflect.DeepEqual(got, full) {
				if differ++; differ <= 3 {
					t.Errorf("%s %v: pass 1 plans %v, the whole row %v", tb.Name, r[0], got, full)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(mapping.FreeText[tb.Name]) > 0 && skipped == 0 {
			t.Errorf("%s: no value of %v in the sample", tb.Name, mapping.FreeText[tb.Name])
		}
	}
}
