package extract

import (
	"regexp"
	"strings"
)

// oraCode is an Oracle error's code in its text: ORA-01555.
var oraCode = regexp.MustCompile(`\bORA-(\d{5})\b`)

// Explain is a sentence on what to do about an Oracle error that msg, an
// error's text, holds (the first ORA- code of a stack is its cause); ""
// when starmig has nothing to add to Oracle's own words. go-ora passes
// the server's words on as they are, so each is found by its code.
func Explain(msg string) string {
	m := oraCode.FindStringSubmatch(msg)
	if m == nil || strings.Contains(msg, "(SQLSTATE ") { // PostgreSQL's, quoting STAR1's text
		return ""
	}
	return oracleCauses[m[1]]
}

// againLater is what to do once STAR1 answers again: a batch and an
// archive run go on from what they had done.
const againLater = " Once it answers again, run the same command again: nothing is lost, and a batch or an archive run goes on from what it had done."

var oracleCauses = map[string]string{
	"01555": "STAR1's undo no longer holds the moment the batch reads at (ORA-01555, snapshot too old): a batch reads every table at one SCN for its whole run, while STAR1 takes writes, and the database kept its undo for less time than the run took. " +
		"Ask STAR1's DBA to raise UNDO_RETENTION above the time a batch takes (with RETENTION GUARANTEE on the undo tablespace, or a larger one), or run smaller batches (--kov); then run the same batch again: nothing is lost.",
	"01466": "A table of STAR1 was altered, truncated or rebuilt after the moment the batch reads at (ORA-01466), and Oracle cannot read it as it was then. Run the same batch again: it takes a new moment, and nothing is lost.",
	"01017": "STAR1 refused the user or the password (ORA-01017). Check both in the URL, oracle://user:password@host:port/service, the password written percent-encoded where it holds @ / ? # or % (%40, %2F, %3F, %23, %25). Oracle takes the password in the case of its letters.",
	"28000": "STAR1's account is locked (ORA-28000): too many failed logins, or locked by its DBA. Ask the DBA to unlock it (ALTER USER … ACCOUNT UNLOCK), and check the password in the URL first, so that it is not locked again.",
	"28001": "The password of STAR1's account has expired (ORA-28001). Ask the DBA for a new one (ALTER USER … IDENTIFIED BY …), or for a profile whose PASSWORD_LIFE_TIME lasts the migration, and give it in the URL.",
	"12514": "The listener knows no service of the URL's name (ORA-12514). The URL's path is the service name, oracle://user:password@host:1521/SERVICE, not the SID; `lsnrctl services` on STAR1's host lists the services. A database known only by its SID is given as ?SID=NAME, with no path.",
	"12505": "The listener knows no database of that SID (ORA-12505): give the SID as `lsnrctl status` on STAR1's host shows it, or the service name as the URL's path instead, oracle://user:password@host:1521/SERVICE.",
	"12541": "No listener answers at the URL's host and port (ORA-12541): check both (the port is 1521 when left out), and that STAR1's listener is running (`lsnrctl status`).",
	"00942": "A table of STAR1 is missing, or the account may not read it (ORA-00942): the account needs SELECT on every table of the schema STAR1 (docs/runbook-engineers.md, \"STAR1's account\").",
	"01031": "STAR1's account lacks a privilege (ORA-01031): it needs SELECT on every table of the schema STAR1, and, to read them all at one SCN, EXECUTE on DBMS_FLASHBACK and FLASHBACK on those tables (docs/runbook-engineers.md, \"STAR1's account\").",
	"00028": "STAR1's DBA ended the batch's session (ORA-00028, your session has been killed)." + againLater,
	"03113": "STAR1's session was cut (ORA-03113, end-of-file on communication channel): the database was stopped, restarted or failed over, or the network dropped the connection; its alert log says which." + againLater,
	"03114": "STAR1's session was cut (ORA-03114, not connected to ORACLE): the database was stopped, restarted or failed over, or the network dropped the connection." + againLater,
	"03135": "STAR1's session was cut (ORA-03135, connection lost contact): the database was stopped, restarted or failed over, or the network dropped the connection." + againLater,
}
