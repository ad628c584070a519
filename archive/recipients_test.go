package archive

import (
	"strings"
	"testing"

	"filippo.io/age"
)

// TestRecipientsOfBothKinds: a recipient is read the same way from the
// command line and from a catalog, X25519 (age1…) or post-quantum
// (age1pq1…); a malformed one is named without quoting it whole. Both
// kinds together are refused, and audit entries of an archive that holds
// runs of both go to the post-quantum ones.
func TestRecipientsOfBothKinds(t *testing.T) {
	classic := testKeys(t).recipients[0].(*age.X25519Recipient)
	pq := testKeysBy(t, GeneratePostQuantumKeys).recipients[0].(*age.HybridRecipient)
	for _, s := range []string{classic.String(), " " + pq.String() + "\n"} {
		r, err := ParseRecipient(s)
		if err != nil || r.(interface{ String() string }).String() != strings.TrimSpace(s) {
			t.Errorf("ParseRecipient(%.20q…): %v, %v", s, r, err)
		}
	}
	bad := pq.String()[:100] + "x"
	if _, err := ParseRecipient(bad); err == nil || strings.Contains(err.Error(), bad[:40]) || !strings.Contains(err.Error(), "not an age recipient (age1…, age1pq1… or an age plugin's age1NAME1…)") {
		t.Errorf("a malformed post-quantum recipient: %v", err)
	}
	if err := CheckRecipients([]age.Recipient{classic}); err != nil {
		t.Error(err)
	}
	if err := CheckRecipients([]age.Recipient{pq, pq}); err != nil {
		t.Error(err)
	}
	if err := CheckRecipients([]age.Recipient{pq, classic}); err == nil || !strings.Contains(err.Error(), "can't mix post-quantum and classic recipients") {
		t.Errorf("both kinds: %v", err)
	}
	cats := []*Catalog{{Recipients: []string{classic.String()}}, {Recipients: []string{pq.String(), classic.String()}}}
	rs, err := CatalogRecipients(cats)
	if err != nil || len(rs) != 1 || rs[0].(*age.HybridRecipient).String() != pq.String() {
		t.Errorf("audit recipients of runs of both kinds: %v, %v; want the post-quantum one", rs, err)
	}
	if rs, err := CatalogRecipients(cats[:1]); err != nil || len(rs) != 1 {
		t.Errorf("audit recipients of an X25519 run: %v, %v", rs, err)
	}
}
