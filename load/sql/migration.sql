-- The migration's own bookkeeping (STAR2.md: "Its exact design is the
-- project's"). Idempotent: every statement may run again.
CREATE SCHEMA IF NOT EXISTS migration;

-- One row per batch name: what it covers and with which reference date.
CREATE TABLE IF NOT EXISTS migration.batch (
  name        text PRIMARY KEY,
  kov         text[],                -- STAR2 municipality codes; NULL for all
  as_of       date NOT NULL,
  live_years  integer NOT NULL,
  created_at  timestamptz NOT NULL
);

-- Every run of a batch, with its state; a run that never finished stays
-- 'running' and is completed by the next run of the same batch.
CREATE TABLE IF NOT EXISTS migration.run (
  id           bigserial PRIMARY KEY,
  batch        text NOT NULL REFERENCES migration.batch,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  state        text NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
  phase        text,
  summary      jsonb
);

-- Every STAR1 row the migration has seen, with its outcome. The tables with
-- a row per STAR1 row have no foreign keys: a trigger per row would cost
-- more than the load of STAR2 itself. The writer fills batch and run_id.
CREATE TABLE IF NOT EXISTS migration.row_map (
  star1_table  text NOT NULL,
  star1_id     bigint NOT NULL,
  batch        text NOT NULL,
  kov          text,                 -- STAR1 municipality code the row belongs to
  outcome      text NOT NULL CHECK (outcome IN ('loaded', 'merged', 'archived_only', 'excluded_deleted', 'quarantined')),
  rule         text,                 -- the rule a quarantined row broke
  star2_table  text,
  star2_id     uuid,                 -- when loaded or merged
  amount_eur   numeric(14,2),        -- OTSUS and MAKSE: SUMMA in euros by rule 6
  source_hash  bytea,                -- of the STAR1 row as extracted
  target_hash  bytea,                -- of the STAR2 row as last written by the migration
  run_id       bigint NOT NULL,
  PRIMARY KEY (star1_table, star1_id),
  CHECK ((outcome IN ('loaded', 'merged')) = (star2_id IS NOT NULL)),
  CHECK ((outcome = 'quarantined') = (rule IS NOT NULL))
);
-- The run that found the STAR1 row deleted outright (not soft-deleted)
-- since the migration saw it; NULL while STAR1 holds it. The row keeps its
-- outcome, and its STAR2 row stays: a re-run never deletes from STAR2.
ALTER TABLE migration.row_map ADD COLUMN IF NOT EXISTS gone_run_id bigint;

-- Rows no automatic fix may decide, kept for an analyst.
CREATE TABLE IF NOT EXISTS migration.quarantine (
  star1_table  text NOT NULL,
  star1_id     bigint NOT NULL,
  rule         text NOT NULL,
  detail       text NOT NULL,
  original     jsonb NOT NULL,
  run_id       bigint NOT NULL,
  PRIMARY KEY (star1_table, star1_id)
);

-- Every correction a rule made, with the original value.
CREATE TABLE IF NOT EXISTS migration.correction (
  star1_table  text NOT NULL,
  star1_id     bigint NOT NULL,
  column_name  text NOT NULL,
  rule         text NOT NULL,
  original     text,
  corrected    text,
  run_id       bigint NOT NULL,
  PRIMARY KEY (star1_table, star1_id, column_name, rule)
);

-- STAR2 rows changed since the migration last wrote them, left as they are.
CREATE TABLE IF NOT EXISTS migration.conflict (
  star1_table  text NOT NULL,
  star1_id     bigint NOT NULL,
  star2_table  text NOT NULL,
  star2_id     uuid NOT NULL,
  run_id       bigint NOT NULL REFERENCES migration.run,
  detail       text NOT NULL,
  PRIMARY KEY (run_id, star1_table, star1_id)
);

CREATE OR REPLACE VIEW migration.row_outcome AS
  SELECT star1_table, star1_id, outcome, rule, star2_id, gone_run_id FROM migration.row_map;

-- The STAR1 person that owns a STAR2 person now: duplicates share one.
CREATE INDEX IF NOT EXISTS row_map_person ON migration.row_map (star2_id) WHERE star2_table = 'person' AND outcome = 'loaded';

-- The STAR1 row a conflict's run saw: keeping STAR2's row takes it as seen,
-- so that the next run leaves the row alone until STAR1 changes again.
-- NULL for rows reported for another reason (a personal code changed).
ALTER TABLE migration.conflict ADD COLUMN IF NOT EXISTS source_hash bytea;
-- changed_on_both_sides, left_by_the_rules (a loaded row the rules no
-- longer load), or NULL for other reports. Rows written before the column
-- have NULL: those with a source hash are changed_on_both_sides.
ALTER TABLE migration.conflict ADD COLUMN IF NOT EXISTS kind text;
-- Conflicts by row, for the decisions on them.
CREATE INDEX IF NOT EXISTS conflict_row ON migration.conflict (star1_table, star1_id);

-- What a migration engineer decided about a loaded row that was changed in
-- STAR2 after the migration wrote it (starmig resolve), with who, when and
-- why. keep_star2: the STAR2 row stands as it was then; take_star1: the
-- next run writes STAR1's version over it. Earlier decisions stay, no
-- longer current.
CREATE TABLE IF NOT EXISTS migration.resolution (
  id           bigserial PRIMARY KEY,
  star1_table  text NOT NULL,
  star1_id     bigint NOT NULL,
  star2_table  text NOT NULL,
  star2_id     uuid NOT NULL,
  decision     text NOT NULL CHECK (decision IN ('keep_star2', 'take_star1')),
  star2_hash   bytea,                -- of the STAR2 row when decided, as target_hash; NULL: deleted in STAR2
  source_hash  bytea,                -- of the STAR1 row the decision took as seen
  reason       text NOT NULL CHECK (reason <> ''),
  operator     text NOT NULL,
  decided_at   timestamptz NOT NULL,
  after_run    bigint NOT NULL,      -- the newest run when decided: it answers the conflicts of that run and earlier ones
  current      boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX IF NOT EXISTS resolution_current ON migration.resolution (star1_table, star1_id) WHERE current;
