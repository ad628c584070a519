package synth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/starmig/starmig/mapping"
)

var workers = []string{"mari.tamm", "jaan.saar", "kadri.kask", "toomas.ilves", "liis.parn", "olga.ivanova", "peeter.sepp", "anu.magi"}

func (g *generator) proceeding(ctx context.Context, p recentPerson, appID any, reg time.Time) error {
	o := g.o
	id := g.id("MENETLUS")
	started := reg.AddDate(0, 0, g.pick(15))
	if started.After(o.AsOf) {
		started = reg
	}
	started = day(started)
	liik := g.classCode(g.mliik, started, nil)
	age := o.AsOf.Sub(started)
	status := "L"
	switch x := g.r.Float64(); {
	case age < 365*24*time.Hour && x < 0.7, age >= 365*24*time.Hour && x < 0.05:
		status = "A"
	case x > 0.9:
		status = "K"
	}
	var end time.Time
	if status != "A" {
		end = day(g.dateIn(started.AddDate(0, 0, 14), started.AddDate(0, 0, 900)))
		if end.After(o.AsOf) {
			end = day(o.AsOf)
		}
		if end.Before(started) {
			end = started
		}
	}
	if g.chance(o.Rates.BadPeriod) {
		if status == "A" {
			status = "L"
		}
		end = started.AddDate(0, 0, -1-g.pick(100))
	}
	var muudetud time.Time
	if g.chance(0.7) {
		muudetud = g.dateIn(started, o.AsOf)
	}
	var vastutaja any = pickOf(g, workers)
	if g.chance(0.05) {
		vastutaja = nil
	}
	if err := g.w["MENETLUS"].add(ctx, id, appID, g.ref(p.id), g.kovFor(p.kov, started), liik.Code, status,
		fmtDate(started), nullDate(end), vastutaja, nullDate(muudetud)); err != nil {
		return err
	}
	last := o.AsOf
	if !end.IsZero() && end.After(started) {
		last = end
	}
	money := liik.Code != "LAPSENDAMINE" && liik.Code != "EESTKOSTE" && g.chance(0.6)
	for range g.count(1.8) {
		if err := g.decision(ctx, p, id, started, last, money); err != nil {
			return err
		}
	}
	if g.chance(0.5) {
		drawn := g.dateIn(started, last)
		var until time.Time
		if g.chance(0.7) {
			until = day(drawn.AddDate(1, 0, 0))
		}
		if err := g.w["JUHTUMIPLAAN"].add(ctx, g.id("JUHTUMIPLAAN"), g.ref(id), fmtDate(day(drawn)),
			g.clob(10+g.pick(40)), g.clob(5+g.pick(30)), nullDate(until)); err != nil {
			return err
		}
	}
	for range g.count(6.5) {
		if err := g.activity(ctx, id, started, last); err != nil {
			return err
		}
	}
	for range g.count(0.5) {
		if err := g.document(ctx, id, started, last); err != nil {
			return err
		}
	}
	return nil
}

// futureOr returns a date after the reference date at the future-date
// rate, t otherwise.
func (g *generator) futureOr(t time.Time) time.Time {
	if g.chance(g.o.Rates.FutureDate) {
		return g.dateIn(g.o.AsOf.AddDate(0, 0, 1), g.o.AsOf.AddDate(1, 0, 0))
	}
	return t
}

var (
	jan2011 = time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	mar2011 = time.Date(2011, 3, 1, 0, 0, 0, 0, time.UTC)
)

// currency gives the currency of a money row dated at.
func (g *generator) currency(at time.Time) string {
	switch {
	case at.Before(jan2011) && g.chance(g.o.Rates.EEK):
		return "EEK"
	case at.Before(mar2011) && !at.Before(jan2011) && g.chance(g.o.Rates.EEK/10):
		return "EEK"
	}
	return "EUR"
}

// amount writes euro cents in a currency as Oracle renders NUMBER(12,2):
// no trailing zeros after the point, sometimes kept (as the stand-in may).
func (g *generator) amount(eur mapping.Cents, cur string) string {
	v := eur
	if cur == "EEK" {
		v = mapping.Cents((int64(eur)*156466 + 5000) / 10000)
	}
	s := v.String()
	if g.r.IntN(2) == 0 {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func (g *generator) decision(ctx context.Context, p recentPerson, procID int64, started, last time.Time, money bool) error {
	o := g.o
	id := g.id("OTSUS")
	decided := g.futureOr(day(g.dateIn(started, last)))
	svc := g.classCode(g.teenus, decided, func(c Code) bool { return c.Money == money })
	tulemus := "R"
	switch x := g.r.Float64(); {
	case x < 0.1:
		tulemus = "O"
	case x < 0.25:
		tulemus = "M"
	}
	from := decided
	to := day(from.AddDate(0, 1+g.pick(36), 0))
	if g.chance(o.Rates.BadPeriod) {
		to = from.AddDate(0, 0, -1-g.pick(60))
	}
	var summa, valuuta any
	var eur mapping.Cents
	if svc.Money && tulemus != "M" {
		eur = mapping.Cents(2000 + g.pick(150000))
		cur := g.currency(decided)
		summa, valuuta = g.amount(eur, cur), cur
	}
	var alates, kuni any = fmtDate(from), fmtDate(to)
	if g.chance(0.05) {
		alates, kuni = nil, nil
	}
	if err := g.w["OTSUS"].add(ctx, id, g.ref(procID), svc.Code, tulemus, summa, valuuta, alates, kuni, fmtDate(decided)); err != nil {
		return err
	}
	if summa == nil || decided.After(o.AsOf) {
		return nil
	}
	n := 1
	if !oneOff[svc.Code] {
		n = min(36, monthsBetween(from, minTime(to, o.AsOf))+1)
	}
	iban := personIBAN(p.id)
	for k := range n {
		paid := from.AddDate(0, k, 0).Add(time.Duration(9+g.pick(8)) * time.Hour)
		if day(paid).After(o.AsOf) {
			break
		}
		paid = g.futureOr(paid)
		cur := g.currency(paid)
		var saaja any = iban
		switch {
		case g.chance(0.05):
			saaja = nil
		case g.chance(o.Rates.BadIBAN):
			saaja = breakIBAN(iban, g.pick(len(iban)-4)+4)
		}
		staatus := "MAKSTUD"
		switch x := g.r.Float64(); {
		case x < 0.03:
			staatus = "TAGASI"
		case x < 0.05:
			staatus = "TYHISTATUD"
		}
		if err := g.w["MAKSE"].add(ctx, g.id("MAKSE"), g.ref(id), g.amount(eur, cur), cur, fmtDate(paid), saaja, staatus); err != nil {
			return err
		}
	}
	return nil
}

var oneOff = map[string]bool{"MATUSETOETUS": true, "SYNNITOETUS": true, "KOOLITOETUS": true, "ERAKORR_TOETUS": true}

func monthsBetween(a, b time.Time) int {
	if b.Before(a) {
		return 0
	}
	return (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func personIBAN(id int64) string {
	return mapping.MakeIBAN("EE", fmt.Sprintf("22%014d", (id*7919)%100_000_000_000_000))
}

// breakIBAN changes one digit, which mod-97 always detects.
func breakIBAN(iban string, at int) string {
	b := []byte(iban)
	b[at] = byte('0' + (int(b[at]-'0')+1)%10)
	return string(b)
}

func (g *generator) activity(ctx context.Context, procID int64, started, last time.Time) error {
	at := g.futureOr(g.dateIn(started, last))
	if g.chance(g.o.Rates.DST) {
		at = g.dstTime()
	}
	liik := g.classCode(g.tliik, at, nil)
	var kasutaja any = pickOf(g, workers)
	if g.chance(0.03) {
		kasutaja = nil
	}
	return g.w["TOIMING"].add(ctx, g.id("TOIMING"), g.ref(procID), liik.Code, fmtDate(at), g.words(3+g.pick(12)), kasutaja)
}

// dstTime draws a wall-clock time in the hour skipped (last Sunday of March,
// 03:00-03:59) or repeated (last Sunday of October, 03:00-03:59) in
// Europe/Tallinn, in a year before the reference date.
func (g *generator) dstTime() time.Time {
	y := 2010 + g.pick(max(1, g.o.AsOf.Year()-2010))
	month := time.March
	if g.r.IntN(2) == 0 {
		month = time.October
	}
	d := time.Date(y, month+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for d.Weekday() != time.Sunday {
		d = d.AddDate(0, 0, -1)
	}
	return d.Add(3*time.Hour + time.Duration(g.pick(3600))*time.Second)
}

func (g *generator) document(ctx context.Context, procID int64, started, last time.Time) error {
	id := g.id("DOKUMENT")
	size := g.o.DocSize/2 + g.pick(g.o.DocSize+1)
	var content []byte
	var mime, name string
	switch g.pick(4) {
	case 0, 1:
		content, mime, name = g.pdf(size), "application/pdf", fmt.Sprintf("otsus_%d.pdf", id)
	case 2:
		content, mime, name = g.png(size), "image/png", fmt.Sprintf("foto_%d.png", id)
	default:
		content, mime, name = []byte(g.words(size/9)), "text/plain", fmt.Sprintf("markus_%d.txt", id)
	}
	var sisu any = content
	var mt any = mime
	if g.chance(g.o.Rates.BadDocument) {
		switch g.pick(3) {
		case 0:
			sisu = []byte{}
		case 1:
			sisu = nil
		default:
			mt = map[string]string{"application/pdf": "image/png", "image/png": "text/plain", "text/plain": "application/pdf"}[mime]
		}
	} else if g.chance(0.02) {
		mt = nil // a missing MIME type: legal in STAR1, sniffed by the migration
	}
	return g.w["DOKUMENT"].add(ctx, id, g.ref(procID), name, mt, sisu, fmtDate(g.dateIn(started, last)))
}
