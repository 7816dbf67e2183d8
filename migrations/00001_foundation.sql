-- +goose Up

-- API keys. The secret is shown once and only its SHA-256 is kept; id is the public part
-- of the key (crier_<id>_<secret>) and is how people refer to a key.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    secret_hash  bytea NOT NULL,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'marketer', 'ops', 'agent', 'compliance')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Contacts. phone is E.164 and unique: it is the identity a customer has on WhatsApp.
-- Tags live in a sorted, de-duplicated text[] with a GIN index, so that the segment
-- operators the campaigns need map to indexable array operators:
--   tags_any  -> tags && $1,  tags_all -> tags @> $1,  exclude_tags -> NOT tags && $1.
CREATE TABLE contacts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone      text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name       text NOT NULL DEFAULT '',
    email      text NOT NULL DEFAULT '',
    locale     text NOT NULL DEFAULT '',
    timezone   text NOT NULL DEFAULT '',
    country    text NOT NULL DEFAULT '',  -- set explicitly; '' means "the phone's region"
    phone_region text NOT NULL DEFAULT '', -- ISO 3166 region of the number, from phonenumbers
    tags       text[] NOT NULL DEFAULT '{}' CONSTRAINT contacts_tags_limit CHECK (cardinality(tags) <= 100),
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);

-- contact_tags_union returns the sorted, de-duplicated union of two tag arrays. Sorting is
-- bytewise (COLLATE "C"), the same order as Go's sort.Strings, so that arrays built on
-- either side compare equal.
-- +goose StatementBegin
CREATE FUNCTION contact_tags_union(a text[], b text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(t ORDER BY t), '{}')
    FROM (SELECT DISTINCT u.t COLLATE "C" AS t FROM unnest(a || b) AS u(t)) s
$$;
-- +goose StatementEnd

-- One row per CSV import, the "batch" that consent evidence points to.
CREATE TABLE contact_imports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor          text NOT NULL,
    default_country text NOT NULL DEFAULT '',
    consent_source text NOT NULL DEFAULT '',
    tags           text[] NOT NULL DEFAULT '{}',
    rows           bigint NOT NULL DEFAULT 0,
    created        bigint NOT NULL DEFAULT 0,
    updated        bigint NOT NULL DEFAULT 0,
    unchanged      bigint NOT NULL DEFAULT 0,
    rejected       bigint NOT NULL DEFAULT 0,
    duplicates     bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The consent column of an import, per line, kept for the consent ledger to record. The
-- import writes both ids in the statement that creates them, so foreign keys would only
-- add a trigger call per row (they doubled the time of a million-row import).
CREATE TABLE contact_import_consents (
    import_id  bigint NOT NULL,
    line       bigint NOT NULL,
    contact_id bigint NOT NULL,
    status     text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    PRIMARY KEY (import_id, line)
);

CREATE INDEX contact_import_consents_contact_idx ON contact_import_consents (contact_id);

-- The audit log: who did what to which thing, through which request. Append-only.
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_key_id text,
    actor        text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL DEFAULT '',
    target_id    text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    status       integer NOT NULL DEFAULT 0,
    detail       jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE contact_import_consents;
DROP TABLE contact_imports;
DROP TABLE contacts;
DROP FUNCTION contact_tags_union;
DROP TABLE api_keys;
