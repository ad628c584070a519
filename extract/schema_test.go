package extract

import (
	"slices"
	"testing"
)

func TestInTableOrderPutsParentsFirst(t *testing.T) {
	m := map[string]int{"DOKUMENT": 1, "ISIK": 1, "MAKSE": 1, "ZZ_LOG": 1, "KOV": 1, "A_EXTRA": 1, "OTSUS": 1}
	want := []string{"KOV", "ISIK", "OTSUS", "MAKSE", "DOKUMENT", "A_EXTRA", "ZZ_LOG"}
	if got := InTableOrder(m); !slices.Equal(got, want) {
		t.Errorf("InTableOrder = %q, want %q", got, want)
	}
	if got := InTableOrder(map[string]bool{}); len(got) != 0 {
		t.Errorf("InTableOrder of none = %q", got)
	}
}
