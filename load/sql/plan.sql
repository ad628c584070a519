-- The outcome of every STAR1 row of a batch (STAR2.md: What goes where),
-- computed from the narrow plan tables that pass 1 filled. Placeholders:
-- {{w}} the run's work schema, {{ws}} the first day of the live window,
-- {{asof}} the reference date. Order of precedence for each row:
--   own soft delete -> excluded_deleted
--   parent missing -> quarantined (orphan)
--   parent excluded -> excluded_deleted
--   parent quarantined -> quarantined (parent_quarantined)
--   not live -> archived_only
--   own broken rule -> quarantined (the rule)
--   duplicate person that is not the survivor -> merged
--   otherwise -> loaded

-- Proceedings: live when open, ended inside the window, or with a decision
-- in force on the reference date. "ended" is the latest day the proceeding
-- can have ended (batch.endedBy: LOPP_KP, else MUUDETUD, else the
-- reference date).
CREATE UNLOGGED TABLE {{w}}.proc_live AS
SELECT p.id, (p.open OR coalesce(p.ended >= {{ws}}, false) OR i.proceeding IS NOT NULL) AS live
  FROM {{w}}.proceeding p
  LEFT JOIN (SELECT DISTINCT parent AS proceeding FROM {{w}}.decision WHERE in_force) i ON i.proceeding = p.id;
ALTER TABLE {{w}}.proc_live ADD PRIMARY KEY (id);

-- Applications: live with a live proceeding; without any proceeding, when
-- registered inside the window.
CREATE UNLOGGED TABLE {{w}}.app_live AS
SELECT a.id, CASE WHEN pa.application IS NULL THEN a.registered >= {{ws}} ELSE pa.live END AS live
  FROM {{w}}.application a
  LEFT JOIN (SELECT p.application, bool_or(l.live) AS live
               FROM {{w}}.proceeding p JOIN {{w}}.proc_live l USING (id)
              WHERE p.application IS NOT NULL GROUP BY p.application) pa ON pa.application = a.id;
ALTER TABLE {{w}}.app_live ADD PRIMARY KEY (id);

-- Persons: live when the subject of a live proceeding or application, or
-- related to such a person.
CREATE UNLOGGED TABLE {{w}}.subject AS
SELECT p.person AS id FROM {{w}}.proceeding p JOIN {{w}}.proc_live l USING (id) WHERE l.live
UNION
SELECT a.person FROM {{w}}.application a JOIN {{w}}.app_live l USING (id) WHERE l.live;
ALTER TABLE {{w}}.subject ADD PRIMARY KEY (id);

CREATE UNLOGGED TABLE {{w}}.person_live AS
SELECT id FROM {{w}}.subject
UNION SELECT r.related FROM {{w}}.relation r JOIN {{w}}.subject s ON s.id = r.person
UNION SELECT r.person FROM {{w}}.relation r JOIN {{w}}.subject s ON s.id = r.related;
ALTER TABLE {{w}}.person_live ADD PRIMARY KEY (id);

-- Persons: duplicates with the same valid code that are neither deleted nor
-- breaking a rule form one group; the most recently modified is the
-- survivor, and the group is live when any member is.
CREATE UNLOGGED TABLE {{w}}.person_out AS
WITH grp AS (
  SELECT p.id,
         bool_or(l.id IS NOT NULL) OVER (PARTITION BY p.code) AS group_live,
         row_number() OVER (PARTITION BY p.code ORDER BY p.modified DESC, p.id DESC) AS rank
    FROM {{w}}.person p LEFT JOIN {{w}}.person_live l ON l.id = p.id
   WHERE p.code IS NOT NULL AND NOT p.deleted AND p.rule IS NULL)
SELECT p.id, p.star2_id, p.kov, p.amount,
       CASE WHEN p.deleted THEN 'excluded_deleted'
            WHEN NOT coalesce(g.group_live, l.id IS NOT NULL) THEN 'archived_only'
            WHEN p.rule IS NOT NULL THEN 'quarantined'
            WHEN g.rank > 1 THEN 'merged'
            ELSE 'loaded' END AS outcome,
       CASE WHEN NOT p.deleted AND coalesce(g.group_live, l.id IS NOT NULL) THEN p.rule END AS rule,
       CASE WHEN NOT p.deleted AND coalesce(g.group_live, l.id IS NOT NULL) THEN p.detail END AS detail,
       NULL::uuid AS person_star2, NULL::uuid AS related_star2
  FROM {{w}}.person p
  LEFT JOIN {{w}}.person_live l ON l.id = p.id
  LEFT JOIN grp g ON g.id = p.id;
ALTER TABLE {{w}}.person_out ADD PRIMARY KEY (id);
-- A person STAR2 already holds under an id of its own (created there for
-- new work before the batch of the person's municipality ran) is the
-- surviving row of the group: every live member is merged into it, and
-- the rows that refer to them point at it. The migration does not write
-- over a row STAR2 made.
UPDATE {{w}}.person_out o SET star2_id = s.id, outcome = 'merged'
  FROM {{w}}.person p, star2.person s
 WHERE p.id = o.id AND s.personal_code = p.code AND s.id <> p.star2_id
   AND o.outcome IN ('loaded', 'merged');
-- The STAR2 person each loaded row carries: a member that loaded it
-- before and is now excluded, quarantined or archived leaves it to the
-- survivor of its group, if the group has one.
CREATE INDEX ON {{w}}.person_out (star2_id) WHERE outcome = 'loaded';

-- The state a child takes from one parent: 4 missing, 3 excluded,
-- 2 quarantined, 1 other (archived, merged or loaded), 0 no parent.
CREATE FUNCTION {{w}}.parent_state(ref bigint, outcome text) RETURNS int
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN ref IS NULL THEN 0
              WHEN outcome IS NULL THEN 4
              WHEN outcome = 'excluded_deleted' THEN 3
              WHEN outcome = 'quarantined' THEN 2
              ELSE 1 END $$;

CREATE FUNCTION {{w}}.child_outcome(state int, live boolean, rule text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN state = 4 THEN 'quarantined'
              WHEN state = 3 THEN 'excluded_deleted'
              WHEN state = 2 THEN 'quarantined'
              WHEN NOT coalesce(live, false) THEN 'archived_only'
              WHEN rule IS NOT NULL THEN 'quarantined'
              ELSE 'loaded' END $$;

CREATE FUNCTION {{w}}.child_rule(state int, live boolean, rule text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN state = 4 THEN 'orphan'
              WHEN state = 3 THEN NULL
              WHEN state = 2 THEN 'parent_quarantined'
              WHEN NOT coalesce(live, false) THEN NULL
              ELSE rule END $$;

CREATE FUNCTION {{w}}.child_detail(state int, live boolean, rule text, detail text, what text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN state = 4 THEN 'orphan: ' || what || ' does not exist in STAR1'
              WHEN state = 3 THEN NULL
              WHEN state = 2 THEN 'parent_quarantined: ' || what || ' is quarantined'
              WHEN NOT coalesce(live, false) THEN NULL
              ELSE detail END $$;

-- Relations: live when both persons are live. A live relation of a person
-- to the same STAR2 person (to itself in STAR1, or to a duplicate rule 3
-- merges it with) breaks invalid_value: STAR2 would show someone as their
-- own mother or guardian, and no rule can tell who was meant.
CREATE UNLOGGED TABLE {{w}}.relation_out AS
WITH s AS (
  SELECT r.id, r.person, r.related,
         coalesce(r.rule, CASE WHEN a.star2_id = b.star2_id THEN 'invalid_value' END) AS rule,
         CASE WHEN a.star2_id = b.star2_id
              THEN concat_ws('; ', r.detail, 'invalid_value: ISIK ' || r.person ||
                   CASE WHEN r.person = r.related THEN ' is related to itself'
                        ELSE ' and ISIK ' || r.related || ' are one person (rule 3 merges them)' END)
              ELSE r.detail END AS detail,
         greatest({{w}}.parent_state(r.person, a.outcome), {{w}}.parent_state(r.related, b.outcome)) AS state,
         a.outcome IN ('loaded', 'merged') AND b.outcome IN ('loaded', 'merged') AS live,
         a.star2_id AS person_star2, b.star2_id AS related_star2, a.kov AS person_kov,
         CASE WHEN a.outcome IS NULL THEN 'ISIK ' || r.person ELSE 'ISIK ' || r.related END AS what
    FROM {{w}}.relation r
    LEFT JOIN {{w}}.person_out a ON a.id = r.person
    LEFT JOIN {{w}}.person_out b ON b.id = r.related)
SELECT id, NULL::uuid AS star2_id, person_kov AS kov, NULL::numeric AS amount,
       {{w}}.child_outcome(state, live, rule) AS outcome, {{w}}.child_rule(state, live, rule) AS rule,
       {{w}}.child_detail(state, live, rule, detail, what) AS detail, person_star2, related_star2
  FROM s;

CREATE UNLOGGED TABLE {{w}}.application_out AS
WITH s AS (
  SELECT a.*, {{w}}.parent_state(a.person, p.outcome) AS state, l.live, p.star2_id AS person_star2
    FROM {{w}}.application a
    LEFT JOIN {{w}}.person_out p ON p.id = a.person
    LEFT JOIN {{w}}.app_live l ON l.id = a.id)
SELECT id, NULL::uuid AS star2_id, kov, NULL::numeric AS amount,
       {{w}}.child_outcome(state, live, rule) AS outcome, {{w}}.child_rule(state, live, rule) AS rule,
       {{w}}.child_detail(state, live, rule, detail, 'ISIK ' || person) AS detail, person_star2, NULL::uuid AS related_star2
  FROM s;
ALTER TABLE {{w}}.application_out ADD PRIMARY KEY (id);

CREATE UNLOGGED TABLE {{w}}.proceeding_out AS
WITH s AS (
  SELECT p.*, greatest({{w}}.parent_state(p.person, pe.outcome), {{w}}.parent_state(p.application, ap.outcome)) AS state,
         l.live, pe.star2_id AS person_star2,
         CASE WHEN {{w}}.parent_state(p.person, pe.outcome) >= {{w}}.parent_state(p.application, ap.outcome)
              THEN 'ISIK ' || p.person ELSE 'POORDUMINE ' || p.application END AS what
    FROM {{w}}.proceeding p
    LEFT JOIN {{w}}.person_out pe ON pe.id = p.person
    LEFT JOIN {{w}}.application_out ap ON ap.id = p.application
    LEFT JOIN {{w}}.proc_live l ON l.id = p.id)
SELECT id, NULL::uuid AS star2_id, kov, NULL::numeric AS amount,
       {{w}}.child_outcome(state, live, rule) AS outcome, {{w}}.child_rule(state, live, rule) AS rule,
       {{w}}.child_detail(state, live, rule, detail, what) AS detail, person_star2, NULL::uuid AS related_star2
  FROM s;
ALTER TABLE {{w}}.proceeding_out ADD PRIMARY KEY (id);
