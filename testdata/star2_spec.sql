-- Verbatim copy of the SQL block of shared/spec/STAR2.md (checked by load/schema_test.go).
CREATE SCHEMA star2;

CREATE TABLE star2.municipality (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE star2.classifier  (kind text, code text, name text NOT NULL, PRIMARY KEY (kind, code));
-- kinds: service, relation_type, proceeding_type, activity_type, channel

CREATE TABLE star2.person (
  id                 uuid PRIMARY KEY,
  personal_code      text UNIQUE,          -- a valid Estonian personal code, or NULL
  foreign_id         text,                 -- identifier of a non-resident, when there is no personal code
  given_name         text,
  family_name        text,
  birth_date         date,
  gender             text CHECK (gender IN ('male', 'female')),
  municipality_code  text REFERENCES star2.municipality,
  address            text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz
);

CREATE TABLE star2.person_relation (
  id                 uuid PRIMARY KEY,
  person_id          uuid NOT NULL REFERENCES star2.person,
  related_person_id  uuid NOT NULL REFERENCES star2.person,
  relation_type      text NOT NULL,        -- classifier relation_type
  valid_from         date,
  valid_to           date,
  CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);

CREATE TABLE star2.application (
  id                 uuid PRIMARY KEY,
  person_id          uuid NOT NULL REFERENCES star2.person,
  municipality_code  text NOT NULL REFERENCES star2.municipality,
  channel            text,                 -- classifier channel
  content            text,
  registered_at      timestamptz NOT NULL
);

CREATE TABLE star2.proceeding (
  id                 uuid PRIMARY KEY,
  application_id     uuid REFERENCES star2.application,
  person_id          uuid NOT NULL REFERENCES star2.person,
  municipality_code  text NOT NULL REFERENCES star2.municipality,
  proceeding_type    text NOT NULL,        -- classifier proceeding_type
  status             text NOT NULL CHECK (status IN ('open', 'closed', 'discontinued')),
  started_on         date NOT NULL,
  ended_on           date,
  responsible_user   text,
  updated_at         timestamptz,
  CHECK (ended_on IS NULL OR ended_on >= started_on)
);

CREATE TABLE star2.decision (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  service_code       text NOT NULL,        -- classifier service
  outcome            text NOT NULL CHECK (outcome IN ('granted', 'partially_granted', 'refused')),
  amount_eur         numeric(12,2),
  valid_from         date,
  valid_to           date,
  decided_on         date NOT NULL,
  CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);

CREATE TABLE star2.payment (
  id                 uuid PRIMARY KEY,
  decision_id        uuid NOT NULL REFERENCES star2.decision,
  amount_eur         numeric(12,2) NOT NULL,
  paid_on            date NOT NULL,
  recipient_iban     text,                 -- a valid IBAN, or NULL
  status             text NOT NULL CHECK (status IN ('paid', 'returned', 'cancelled'))
);

CREATE TABLE star2.case_plan (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  drawn_up_on        date NOT NULL,
  goals              text,
  assessment         text,
  valid_to           date
);

CREATE TABLE star2.activity (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  activity_type      text NOT NULL,        -- classifier activity_type
  occurred_at        timestamptz NOT NULL,
  description        text,
  performed_by       text
);

CREATE TABLE star2.document (
  id                 uuid PRIMARY KEY,
  proceeding_id      uuid NOT NULL REFERENCES star2.proceeding,
  file_name          text NOT NULL,
  media_type         text NOT NULL,
  size_bytes         bigint NOT NULL,
  sha256             text NOT NULL,        -- hex digest of content
  content            bytea,
  created_at         timestamptz NOT NULL
);
