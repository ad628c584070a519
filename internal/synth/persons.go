package synth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/starmig/starmig/mapping"
)

// person writes one ISIK row and everything that hangs on it.
func (g *generator) person(ctx context.Context) error {
	o := g.o
	id := g.id("ISIK")
	loodud := g.personCreated()
	p := recentPerson{id: id, loodud: loodud}

	var code any
	dup := g.chance(o.Rates.Duplicate)
	var src *recentPerson
	if dup {
		src = g.recentValid()
	}
	switch {
	case src != nil:
		// The same person entered again: same code, names and birth date,
		// another id, another creation time.
		p.code, p.birth, p.male, p.family = src.code, src.birth, src.male, src.family
		code = p.code
	case g.chance(o.Rates.ForeignCode):
		p.birth, p.male = g.birthDate(), g.r.IntN(2) == 0
		if g.r.IntN(3) > 0 {
			code = g.foreignID()
		}
	default:
		p.birth, p.male = g.birthDate(), g.r.IntN(2) == 0
		c, err := mapping.MakePersonalCode(p.birth, p.male, g.serial(p.birth))
		if err != nil {
			return fmt.Errorf("gen: person %d: %w", id, err)
		}
		if g.chance(o.Rates.InvalidCode) {
			c = g.breakCode(c)
		} else {
			p.liveValid = true
		}
		p.code, code = c, c
	}
	if p.family == "" {
		p.family = pickOf(g, familyNames)
	}
	given := pickOf(g, femaleNames)
	if p.male {
		given = pickOf(g, maleNames)
	}
	birth, sex := p.birth, "N"
	if p.male {
		sex = "M"
	}
	if p.liveValid && g.chance(o.Rates.CodeMismatch) {
		if g.r.IntN(2) == 0 {
			birth = birth.AddDate(0, 0, 1+g.pick(400))
		} else if sex == "M" {
			sex = "N"
		} else {
			sex = "M"
		}
	}
	var sugu any = sex
	if g.chance(0.02) {
		sugu = nil
	}
	home := g.kovFor("", loodud)
	p.kov = home
	addr := fmt.Sprintf("%s %d-%d, %s", pickOf(g, streets), 1+g.pick(120), 1+g.pick(60), kovName(g, home))
	family := p.family
	if loodud.Year() < 2013 && g.chance(o.Rates.Capitals) {
		given, family = strings.ToUpper(given), strings.ToUpper(family)
	}
	var muudetud time.Time
	if g.chance(0.6) {
		muudetud = g.dateIn(loodud, o.AsOf)
	}
	deleted := "E"
	if g.chance(o.Rates.Deleted) {
		deleted = "J"
	}
	if err := g.w["ISIK"].add(ctx, id, code,
		g.dirtyText(given, maleNames), g.dirtyText(family, familyNames), nullDate(birth), sugu, home,
		g.dirtyText(addr, streetsWithLetters), fmtDate(loodud), nullDate(muudetud), deleted); err != nil {
		return err
	}
	if p.liveValid && src == nil {
		g.recent[id%int64(len(g.recent))] = p
	}
	return g.personRows(ctx, p)
}

var streetsWithLetters = []string{"Õie tn 4-2, Tõrva", "Mõisa tee 12, Jõgeva", "Küla tee 3, Põltsamaa", "Äia tn 7-1, Võru"}

func kovName(g *generator, code string) string {
	for _, m := range g.kov {
		if m.Code == code {
			return m.Name
		}
	}
	return "Tallinn"
}

// personCreated: about a third of persons came with the initial load of
// 2010, the rest spread until the reference date.
func (g *generator) personCreated() time.Time {
	if g.chance(0.3) {
		return g.dateIn(epoch, epoch.AddDate(0, 3, 0))
	}
	return g.dateIn(epoch, g.o.AsOf)
}

func (g *generator) birthDate() time.Time {
	start := time.Date(1925, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(g.o.AsOf.Sub(start).Hours()/24) - 30
	return start.AddDate(0, 0, g.pick(days))
}

// serial hands out personal-code serials per birth day in order, so that
// no two generated persons share a code unless made duplicates on purpose.
func (g *generator) serial(birth time.Time) int {
	d := int(birth.Sub(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	if d < 0 || d >= len(g.serials) {
		d = 0
	}
	s := g.serials[d]
	g.serials[d]++
	return int(s) % 1000
}

func (g *generator) recentValid() *recentPerson {
	for range 8 {
		p := &g.recent[g.pick(len(g.recent))]
		if p.id != 0 {
			return p
		}
	}
	return nil
}

// breakCode makes a code invalid: a wrong check digit, or an impossible
// date with a correct check digit.
func (g *generator) breakCode(c string) string {
	if g.r.IntN(2) == 0 {
		last := c[10]
		wrong := byte('0' + (int(last-'0')+1+g.pick(9))%10)
		return c[:10] + string(wrong)
	}
	bad := []string{"1302", "0230", "0431", "0000", "1232"}[g.pick(5)]
	first := c[:3] + bad + c[7:10]
	return first + string(mapping.CheckDigit(first))
}

func (g *generator) foreignID() string {
	switch g.pick(3) {
	case 0:
		return fmt.Sprintf("LV-%06d-%05d", g.pick(1000000), g.pick(100000))
	case 1:
		return fmt.Sprintf("K%07d", g.pick(10000000))
	default:
		return fmt.Sprintf("FI%06d-%03dX", g.pick(1000000), g.pick(1000))
	}
}

// dirtyText applies the text problems of name and address fields: stray
// spaces and mojibake. A field chosen for mojibake that has no Estonian
// letter takes one from withLetters, so the damage is visible.
func (g *generator) dirtyText(s string, withLetters []string) string {
	if g.chance(g.o.Rates.Mojibake) {
		if !strings.ContainsAny(s, "õäöüšžÕÄÖÜŠŽ") {
			for {
				s = pickOf(g, withLetters)
				if strings.ContainsAny(s, "õäöüšžÕÄÖÜŠŽ") {
					break
				}
			}
		}
		s = mapping.Mojibake(s, g.r.IntN(2) == 0)
	}
	if g.chance(g.o.Rates.Whitespace) {
		switch g.pick(3) {
		case 0:
			s = " " + s
		case 1:
			s = s + "  "
		default:
			s = "  " + s + " "
		}
	}
	return s
}

// clob is CLOB text: words, and NUL characters at the NUL rate.
func (g *generator) clob(words int) string {
	s := g.words(words)
	if g.chance(g.o.Rates.NUL) {
		at := g.pick(len(s))
		for at > 0 && s[at]&0xC0 == 0x80 {
			at--
		}
		s = s[:at] + "\x00" + s[at:]
	}
	return s
}

// words is Estonian-looking text of n words.
func (g *generator) words(words int) string {
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pickOf(g, estWords))
	}
	b.WriteByte('.')
	return b.String()
}

func (g *generator) ref(parent int64) int64 {
	if g.chance(g.o.Rates.Orphan) {
		return g.orphanID()
	}
	return parent
}

func (g *generator) personRows(ctx context.Context, p recentPerson) error {
	o := g.o
	// Relations to persons written before.
	for range g.count(0.75) {
		if p.id < 2 {
			break
		}
		other := p.id - 1 - int64(g.pick(int(min(p.id-1, 5000))))
		a, b := g.ref(p.id), other
		if g.chance(o.Rates.Orphan) {
			b = g.orphanID()
		}
		liik := g.classCode(g.seos, p.loodud, nil)
		start := g.dateIn(p.loodud, o.AsOf)
		var end time.Time
		if g.chance(0.2) {
			end = g.dateIn(start, o.AsOf)
		}
		var algus any = fmtDate(day(start))
		if g.chance(0.3) {
			algus = nil
		}
		if err := g.w["ISIKU_SEOS"].add(ctx, g.id("ISIKU_SEOS"), a, b, liik.Code, algus, nullDate(day2(end))); err != nil {
			return err
		}
	}
	// Applications, most leading to a proceeding; some proceedings start
	// without one.
	napp := g.count(1.0)
	nproc := g.count(0.35)
	for i := range napp + nproc {
		var appID any
		reg := g.dateIn(maxTime(p.loodud, epoch), o.AsOf)
		if i < napp {
			aid := g.id("POORDUMINE")
			appID = aid
			kanal := g.classCode(g.kanal, reg, nil)
			var k any = kanal.Code
			if g.chance(0.05) {
				k = nil
			}
			if err := g.w["POORDUMINE"].add(ctx, aid, g.ref(p.id), g.kovFor(p.kov, reg), k, g.clob(4+g.pick(20)), fmtDate(reg)); err != nil {
				return err
			}
			if g.chance(0.15) {
				continue // answered without a proceeding
			}
			if g.chance(o.Rates.Orphan) {
				appID = g.orphanID()
			}
		}
		if err := g.proceeding(ctx, p, appID, reg); err != nil {
			return err
		}
	}
	return nil
}

func day2(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return day(t)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
