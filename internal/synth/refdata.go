package synth

import "fmt"

// Municipality is one KOV row of the synthetic STAR1 and its STAR2 mapping.
type Municipality struct {
	Code      string
	Name      string
	Successor string // for a municipality merged away in 2017; "" for a current one
	Weight    int    // relative population, for choosing residents
}

// currentNames are the 79 municipalities after the 2017 reform. Their codes
// in the synthetic STAR1 are made up (STAR1.md: codes are data).
var currentNames = []string{
	"Tallinn", "Tartu linn", "Narva linn", "Pärnu linn", "Kohtla-Järve linn", "Viljandi linn",
	"Maardu linn", "Rakvere linn", "Sillamäe linn", "Võru linn", "Keila linn", "Haapsalu linn",
	"Paide linn", "Loksa linn", "Narva-Jõesuu linn", "Saue vald", "Harku vald", "Viimsi vald",
	"Rae vald", "Kiili vald", "Saku vald", "Jõelähtme vald", "Kose vald", "Kuusalu vald",
	"Anija vald", "Raasiku vald", "Lääne-Harju vald", "Hiiumaa vald", "Alutaguse vald",
	"Lüganuse vald", "Toila vald", "Jõhvi vald", "Jõgeva vald", "Mustvee vald", "Põltsamaa vald",
	"Järva vald", "Türi vald", "Lääneranna vald", "Lääne-Nigula vald", "Vormsi vald",
	"Haljala vald", "Kadrina vald", "Tapa vald", "Vinni vald", "Viru-Nigula vald",
	"Väike-Maarja vald", "Rakvere vald", "Kanepi vald", "Põlva vald", "Räpina vald",
	"Häädemeeste vald", "Kihnu vald", "Põhja-Pärnumaa vald", "Saarde vald", "Tori vald",
	"Kehtna vald", "Kohila vald", "Märjamaa vald", "Rapla vald", "Muhu vald", "Ruhnu vald",
	"Saaremaa vald", "Elva vald", "Kastre vald", "Luunja vald", "Nõo vald", "Peipsiääre vald",
	"Tartu vald", "Otepää vald", "Tõrva vald", "Valga vald", "Mulgi vald", "Põhja-Sakala vald",
	"Viljandi vald", "Antsla vald", "Rõuge vald", "Setomaa vald", "Võru vald", "Pärnu vald",
}

// formerNames are municipalities merged away in the 2017 reform.
var formerNames = []string{
	"Kõpu vald", "Kõo vald", "Suure-Jaani vald", "Vastseliina vald", "Meremäe vald",
	"Mikitamäe vald", "Värska vald", "Orava vald", "Laheda vald", "Mooste vald", "Ahja vald",
	"Vastse-Kuuste vald", "Valgjärve vald", "Kõlleste vald", "Veriora vald", "Misso vald",
	"Haanja vald", "Lasva vald", "Sõmerpalu vald", "Varstu vald", "Mõniste vald", "Urvaste vald",
	"Karksi vald", "Halliste vald", "Abja vald", "Tarvastu vald", "Paistu vald", "Pärsti vald",
	"Saarepeedi vald", "Kolga-Jaani vald", "Kõpu alev", "Puhja vald", "Rõngu vald", "Konguta vald",
	"Rannu vald", "Laeva vald", "Tähtvere vald", "Ülenurme vald", "Haaslava vald", "Mäksa vald",
	"Võnnu vald", "Meeksi vald", "Piirissaare vald", "Alatskivi vald", "Vara vald", "Pala vald",
	"Kallaste linn", "Tabivere vald", "Puurmani vald", "Pajusi vald", "Pala küla vald",
	"Saare vald", "Torma vald", "Kasepää vald", "Palamuse vald", "Jõgeva linn", "Põltsamaa linn",
	"Pala-Kasepää vald", "Koeru vald", "Imavere vald", "Koigi vald", "Albu vald", "Ambla vald",
	"Järva-Jaani vald", "Kareda vald", "Roosna-Alliku vald", "Väätsa vald", "Käru vald",
	"Oisu vald", "Kabala vald", "Türi linn", "Lehtse vald", "Tamsalu vald", "Rägavere vald",
	"Sõmeru vald", "Laekvere vald", "Vihula vald", "Kunda linn", "Rakke vald", "Aseri vald",
	"Sonda vald", "Kiviõli linn", "Maidla vald", "Mäetaguse vald", "Iisaku vald", "Illuka vald",
	"Tudulinna vald", "Avinurme vald", "Kohtla vald", "Kohtla-Nõmme vald", "Vaivara vald",
	"Kullamaa vald", "Martna vald", "Ridala vald", "Nõva vald", "Noarootsi vald", "Oru vald",
	"Taebla vald", "Hanila vald", "Lihula vald", "Varbla vald", "Koonga vald", "Tõstamaa vald",
	"Audru vald", "Paikuse vald", "Sauga vald", "Surju vald", "Tahkuranna vald", "Are vald",
	"Sindi linn", "Tootsi vald", "Vändra vald", "Vändra alev", "Tori alev", "Halinga vald",
	"Kaisma vald", "Tali vald", "Juuru vald", "Kaiu vald", "Raikküla vald", "Vigala vald",
	"Käina vald", "Pühalepa vald", "Kõrgessaare vald", "Emmaste vald", "Kärdla linn",
	"Kuressaare linn", "Kaarma vald", "Orissaare vald", "Pöide vald", "Leisi vald", "Torgu vald",
	"Salme vald", "Lääne-Saare vald", "Laimjala vald", "Valjala vald", "Pihtla vald",
	"Mustjala vald", "Kihelkonna vald", "Lümanda vald", "Padise vald", "Vasalemma vald",
	"Keila vald", "Nissi vald", "Kernu vald", "Kõue vald", "Aegviidu vald",
}

// reformDate is the day the 2017 administrative reform took effect.
const reformDate = "2017-10-21 00:00:00"

// Municipalities lists every KOV row: the current ones first, then those
// merged away, each with its successor. Codes are 4-digit and stable.
func Municipalities() []Municipality {
	out := make([]Municipality, 0, len(currentNames)+len(formerNames))
	for i, n := range currentNames {
		w := 3
		switch {
		case i == 0:
			w = 300 // Tallinn
		case i < 5:
			w = 60
		case i < 15:
			w = 15
		}
		out = append(out, Municipality{Code: fmt.Sprintf("%04d", 100+i*11), Name: n, Weight: w})
	}
	for i, n := range formerNames {
		succ := out[15+(i*7)%(len(currentNames)-15)].Code
		out = append(out, Municipality{Code: fmt.Sprintf("%04d", 1000+i*7), Name: n, Successor: succ, Weight: 1})
	}
	return out
}

// unknownKOV are municipality codes found on rows but in no KOV row and no
// mapping: typing errors of the legacy application.
var unknownKOV = []string{"9999", "078", "0O84"}

// Code is one KLASSIFIKAATOR row and its STAR2 mapping.
type Code struct {
	Class, Code, Name string
	Expired           string // KEHTIV_KUNI, "" while valid
	Star2Code         string // STAR2 classifier code; "" for a code no mapping covers
	Star2Name         string
	Money             bool // TEENUS: a benefit paid in money
}

// star2Kind is the STAR2 classifier kind of each STAR1 code list.
var star2Kind = map[string]string{
	"TEENUS": "service", "SEOSE_LIIK": "relation_type", "MENETLUSE_LIIK": "proceeding_type",
	"TOIMINGU_LIIK": "activity_type", "KANAL": "channel",
}

// Codes is the synthetic KLASSIFIKAATOR. Codes with an Expired date are
// legacy codes that need a mapping decision (problem 9): several map onto
// one STAR2 code. Codes without Star2Code are in STAR1 but in no mapping;
// rows use them only when the unmapped rate is set.
var Codes = []Code{
	{Class: "TEENUS", Code: "KODUTEENUS", Name: "Koduteenus", Star2Code: "home_care", Star2Name: "Home care"},
	{Class: "TEENUS", Code: "ISIKLIK_ABI", Name: "Isikliku abistaja teenus", Star2Code: "personal_assistance", Star2Name: "Personal assistance"},
	{Class: "TEENUS", Code: "TUGIISIK", Name: "Tugiisikuteenus", Star2Code: "support_person", Star2Name: "Support person"},
	{Class: "TEENUS", Code: "VARJUPAIK", Name: "Varjupaigateenus", Star2Code: "shelter", Star2Name: "Shelter"},
	{Class: "TEENUS", Code: "SOTS_TRANSPORT", Name: "Sotsiaaltransporditeenus", Star2Code: "social_transport", Star2Name: "Social transport"},
	{Class: "TEENUS", Code: "ULDHOOLDUS", Name: "Üldhooldusteenus", Star2Code: "care_home", Star2Name: "Care home", Money: true},
	{Class: "TEENUS", Code: "ASENDUSHOOLDUS", Name: "Asendushooldusteenus", Star2Code: "substitute_care", Star2Name: "Substitute care"},
	{Class: "TEENUS", Code: "EESTKOSTE", Name: "Eestkoste seadmine", Star2Code: "guardianship", Star2Name: "Guardianship"},
	{Class: "TEENUS", Code: "LAPSENDAMINE", Name: "Lapsendamine", Star2Code: "adoption", Star2Name: "Adoption"},
	{Class: "TEENUS", Code: "TOIMETULEK", Name: "Toimetulekutoetus", Star2Code: "subsistence_benefit", Star2Name: "Subsistence benefit", Money: true},
	{Class: "TEENUS", Code: "VAJADUSP_PERETOET", Name: "Vajaduspõhine peretoetus", Star2Code: "needs_based_family_benefit", Star2Name: "Needs-based family benefit", Money: true},
	{Class: "TEENUS", Code: "MATUSETOETUS", Name: "Matusetoetus", Star2Code: "funeral_benefit", Star2Name: "Funeral benefit", Money: true},
	{Class: "TEENUS", Code: "SYNNITOETUS", Name: "Sünnitoetus", Star2Code: "birth_allowance", Star2Name: "Birth allowance", Money: true},
	{Class: "TEENUS", Code: "HOOLDAJATOETUS", Name: "Hooldajatoetus", Star2Code: "caregiver_allowance", Star2Name: "Caregiver allowance", Money: true},
	{Class: "TEENUS", Code: "ERAKORR_TOETUS", Name: "Erakorraline toetus", Star2Code: "emergency_benefit", Star2Name: "Emergency benefit", Money: true},
	{Class: "TEENUS", Code: "HOOLDEKODU_V", Name: "Hoolekandeasutuse teenus (vana)", Expired: "2016-01-01 00:00:00", Star2Code: "care_home", Star2Name: "Care home", Money: true},
	{Class: "TEENUS", Code: "TOIMETULEK_V", Name: "Toimetulekutoetus (enne 2012)", Expired: "2012-01-01 00:00:00", Star2Code: "subsistence_benefit", Star2Name: "Subsistence benefit", Money: true},
	{Class: "TEENUS", Code: "KOOLITOETUS", Name: "Koolitoetus", Expired: "2014-09-01 00:00:00", Star2Code: "one_off_benefit", Star2Name: "One-off benefit", Money: true},
	{Class: "TEENUS", Code: "EUROPROJEKT", Name: "ESF projekti tegevus", Expired: "2015-12-31 00:00:00", Money: true},
	{Class: "TEENUS", Code: "PILOOT_2013", Name: "Pilootprojekt 2013", Expired: "2014-01-01 00:00:00"},

	{Class: "SEOSE_LIIK", Code: "EMA", Name: "Ema", Star2Code: "mother", Star2Name: "Mother"},
	{Class: "SEOSE_LIIK", Code: "ISA", Name: "Isa", Star2Code: "father", Star2Name: "Father"},
	{Class: "SEOSE_LIIK", Code: "LAPS", Name: "Laps", Star2Code: "child", Star2Name: "Child"},
	{Class: "SEOSE_LIIK", Code: "ABIKAASA", Name: "Abikaasa", Star2Code: "spouse", Star2Name: "Spouse"},
	{Class: "SEOSE_LIIK", Code: "EESTKOSTJA", Name: "Eestkostja", Star2Code: "guardian", Star2Name: "Guardian"},
	{Class: "SEOSE_LIIK", Code: "HOOLDAJA", Name: "Hooldaja", Star2Code: "carer", Star2Name: "Carer"},
	{Class: "SEOSE_LIIK", Code: "MUU", Name: "Muu", Star2Code: "other", Star2Name: "Other"},
	{Class: "SEOSE_LIIK", Code: "ELUKAASLANE", Name: "Elukaaslane", Expired: "2013-01-01 00:00:00", Star2Code: "other", Star2Name: "Other"},
	{Class: "SEOSE_LIIK", Code: "NAABER", Name: "Naaber", Expired: "2012-06-01 00:00:00"},

	{Class: "MENETLUSE_LIIK", Code: "TEENUS", Name: "Teenuse menetlus", Star2Code: "service", Star2Name: "Service"},
	{Class: "MENETLUSE_LIIK", Code: "TOETUS", Name: "Toetuse menetlus", Star2Code: "benefit", Star2Name: "Benefit"},
	{Class: "MENETLUSE_LIIK", Code: "LASTEKAITSE", Name: "Lastekaitse", Star2Code: "child_protection", Star2Name: "Child protection"},
	{Class: "MENETLUSE_LIIK", Code: "EESTKOSTE", Name: "Eestkoste", Star2Code: "guardianship", Star2Name: "Guardianship"},
	{Class: "MENETLUSE_LIIK", Code: "LAPSENDAMINE", Name: "Lapsendamine", Star2Code: "adoption", Star2Name: "Adoption"},
	{Class: "MENETLUSE_LIIK", Code: "HOOLDUS_V", Name: "Hoolduse menetlus (vana)", Expired: "2016-01-01 00:00:00", Star2Code: "service", Star2Name: "Service"},
	{Class: "MENETLUSE_LIIK", Code: "PROJEKT", Name: "Projekt", Expired: "2015-12-31 00:00:00"},

	{Class: "TOIMINGU_LIIK", Code: "KOHTUMINE", Name: "Kohtumine", Star2Code: "meeting", Star2Name: "Meeting"},
	{Class: "TOIMINGU_LIIK", Code: "KONE", Name: "Telefonikõne", Star2Code: "phone_call", Star2Name: "Phone call"},
	{Class: "TOIMINGU_LIIK", Code: "KIRI", Name: "Kiri", Star2Code: "letter", Star2Name: "Letter"},
	{Class: "TOIMINGU_LIIK", Code: "KODUKULASTUS", Name: "Kodukülastus", Star2Code: "home_visit", Star2Name: "Home visit"},
	{Class: "TOIMINGU_LIIK", Code: "HINDAMINE", Name: "Abivajaduse hindamine", Star2Code: "assessment", Star2Name: "Assessment"},
	{Class: "TOIMINGU_LIIK", Code: "MARKUS", Name: "Märkus", Star2Code: "note", Star2Name: "Note"},
	{Class: "TOIMINGU_LIIK", Code: "VISIIT_V", Name: "Visiit (vana)", Expired: "2014-01-01 00:00:00", Star2Code: "home_visit", Star2Name: "Home visit"},
	{Class: "TOIMINGU_LIIK", Code: "SMS", Name: "SMS", Expired: "2013-01-01 00:00:00"},

	{Class: "KANAL", Code: "EPOST", Name: "E-post", Star2Code: "email", Star2Name: "E-mail"},
	{Class: "KANAL", Code: "PABER", Name: "Paberil", Star2Code: "paper", Star2Name: "Paper"},
	{Class: "KANAL", Code: "TELEFON", Name: "Telefon", Star2Code: "phone", Star2Name: "Phone"},
	{Class: "KANAL", Code: "KOHAPEAL", Name: "Kohapeal", Star2Code: "in_person", Star2Name: "In person"},
	{Class: "KANAL", Code: "PORTAAL", Name: "Portaal", Star2Code: "portal", Star2Name: "Portal"},
	{Class: "KANAL", Code: "FAKS", Name: "Faks", Expired: "2012-01-01 00:00:00", Star2Code: "paper", Star2Name: "Paper"},
	{Class: "KANAL", Code: "SKYPE", Name: "Skype", Expired: "2014-01-01 00:00:00"},
}

// codeSet holds one class's codes split by use.
type codeSet struct {
	current  []Code // valid codes, used on recent rows
	legacy   []Code // mapped codes that expired, used on rows before their expiry
	unmapped []Code // codes no mapping covers
}

func codesOf(class string) codeSet {
	var s codeSet
	for _, c := range Codes {
		switch {
		case c.Class != class:
		case c.Star2Code == "":
			s.unmapped = append(s.unmapped, c)
		case c.Expired != "":
			s.legacy = append(s.legacy, c)
		default:
			s.current = append(s.current, c)
		}
	}
	return s
}

var (
	maleNames   = []string{"Jüri", "Tõnu", "Jaan", "Peeter", "Märt", "Tiit", "Ants", "Mart", "Rein", "Väino", "Andres", "Toomas", "Kalle", "Priit", "Urmas", "Aivar", "Sergei", "Aleksandr", "Dmitri", "Õnne", "Jõgi", "Siim", "Kristjan", "Rasmus", "Mihkel", "Oskar", "Karl", "Sten", "Märten", "Ülo"}
	femaleNames = []string{"Mari", "Ülle", "Kädi", "Sirje", "Õie", "Liis", "Kärt", "Anu", "Malle", "Aino", "Küllike", "Siiri", "Tiina", "Kadri", "Maarja", "Helen", "Jelena", "Tatjana", "Olga", "Triin", "Kätlin", "Merike", "Ene", "Säde", "Piret", "Eha", "Reet", "Lea", "Ly", "Mõnika"}
	familyNames = []string{"Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk", "Rebane", "Ilves", "Pärn", "Koppel", "Lepik", "Kõiv", "Järv", "Laur", "Õunapuu", "Mölder", "Põder", "Rätsep", "Väli", "Kütt", "Vaher", "Lõhmus", "Raudsepp", "Kivi", "Luik", "Jõgi", "Sild", "Männik", "Tõnisson", "Põld", "Ots", "Ivanov", "Smirnov", "Kuznetsov", "Šmidt", "Žukov", "Küünarpuu", "Säästla", "Mäesalu", "Nõmm"}
	streets     = []string{"Pärnu mnt", "Tartu mnt", "Narva mnt", "Õie tn", "Kõrtsi tn", "Mõisa tee", "Jõe tn", "Pikk tn", "Lai tn", "Väike-Tähe tn", "Männiku tee", "Kesk tn", "Rüütli tn", "Sõpruse pst", "Tööstuse tn", "Põllu tn", "Küla tee", "Äia tn", "Šveitsi tn", "Lõuna tn"}
	estWords    = []string{"abivajadus", "toimetulek", "perekond", "lapsed", "eluase", "töötus", "tervis", "hooldus", "võlad", "üür", "küte", "toetus", "kodu", "sõidukulud", "ravimid", "õppimine", "päevahoid", "öömaja", "tugiisik", "kõrvalabi"}
)
