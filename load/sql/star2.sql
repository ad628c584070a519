-- The STAR2 target schema exactly as STAR2.md defines it, written so that
-- applying it again, or to a database where someone else created star2,
-- changes nothing.
CREATE SCHEMA IF NOT EXISTS star2;

CREATE TABLE IF NOT EXISTS star2.municipality (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS star2.classifier  (kind text, code text, name text NOT NULL, PRIMARY KEY (kind, code));

CREATE TABLE IF NOT EXISTS star2.person (
  id                 uuid PRIMARY KEY,
  personal_code      text UNIQUE,
  foreign_id         text,
  given_name         text,
  family_name        text,
  birth_date         date,
  gender             text CHECK (gender IN ('male', 'female')),
  municipality_code  text REFERENCES star2.municipality,
  address            text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz
);

CREATE TABLE IF NOT EXISTS star2.person_relation (
  id                 uuid PRIMARY KEY,
  person_id          uuid NOT NULL REFERENCES star2.person,
  related_person_id  uuid NOT NULL REFERENCES star2.person,
  relation_type      text NOT NULL,
  valid_from         date,
  valid_to           date,
  CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);

CREATE TABLE IF NOT EXISTS star2.application (
  id                 uuid PRIMARY KEY,
  person_id          uuid NOT NULL REFERENCES star2.person,
  municipality_code  text NOT NULL REFERENCES star2.municipality,
  channel            text,
  content            text,
  registered_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS star2.proceeding (
  id                 uuid PRIMARY KEY,
  application_id     uuid REFERENCES star2.application,
  person_id          uuid NOT NULL REFERENCES star2.person,
  municipality_code  text NOT NULL REFERENCES star2.municipality,
  proceeding_type    text NOT NULL,
  status             text NOT NULL CHECK (status IN ('open', 'closed', 'discontinued')),
  started_on         date NOT NULL,
  ended_on           date,
  responsible_user   text,
  updated_at         timestamptz,
  CHECK (ended_on IS NULL OR ended_on >= started_on)
);

CREATE TABLE IF NOT EXISTS star2.decision (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  service_code       text NOT NULL,
  outcome            text NOT NULL CHECK (outcome IN ('granted', 'partially_granted', 'refused')),
  amount_eur         numeric(12,2),
  valid_from         date,
  valid_to           date,
  decided_on         date NOT NULL,
  CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);

CREATE TABLE IF NOT EXISTS star2.payment (
  id                 uuid PRIMARY KEY,
  decision_id        uuid NOT NULL REFERENCES star2.decision,
  amount_eur         numeric(12,2) NOT NULL,
  paid_on            date NOT NULL,
  recipient_iban     text,
  status             text NOT NULL CHECK (status IN ('paid', 'returned', 'cancelled'))
);

CREATE TABLE IF NOT EXISTS star2.case_plan (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  drawn_up_on        date NOT NULL,
  goals              text,
  assessment         text,
  valid_to           date
);

CREATE TABLE IF NOT EXISTS star2.activity (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  activity_type      text NOT NULL,
  occurred_at        timestamptz NOT NULL,
  description        text,
  performed_by       text
);

CREATE TABLE IF NOT EXISTS star2.document (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  file_name          text NOT NULL,
  media_type         text NOT NULL,
  size_bytes         bigint NOT NULL,
  sha256             text NOT NULL,
  content            bytea,
  created_at         timestamptz NOT NULL
);
