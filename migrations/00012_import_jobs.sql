-- +goose Up
-- A CSV import is a resource that outlives its request: the API spools the upload, stores
-- it here and queues import:run; a worker merges it in one transaction and records the
-- outcome. Imports made before this migration ran to completion in their request: done.
ALTER TABLE contact_imports
    ADD COLUMN status text NOT NULL DEFAULT 'done'
        CHECK (status IN ('receiving', 'queued', 'running', 'done', 'failed')),
    ADD COLUMN bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN rejected_by_reason jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN first_rejects jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN first_duplicates jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN consent jsonb,
    ADD COLUMN error text NOT NULL DEFAULT '',
    ADD COLUMN error_field text NOT NULL DEFAULT '',
    ADD COLUMN started_at timestamptz,
    ADD COLUMN finished_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- The imports in progress: what the concurrency cap counts and the reconciler looks at.
CREATE INDEX contact_imports_active_idx ON contact_imports (id)
    WHERE status IN ('receiving', 'queued', 'running');

-- The uploaded file, in pieces of about a megabyte, from the end of the upload until the
-- import ends (done or failed): a worker on any host reads it from here. TOAST compresses
-- CSV text several times over.
CREATE TABLE contact_import_chunks (
    import_id bigint NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- Every rejected line of an import, as CSV text (line,field,error) in blocks of up to
-- ten thousand lines, in line order: a file of nothing but bad lines costs a row per
-- block, not per line. Written in the import's transaction, so they appear when it is done.
CREATE TABLE contact_import_rejects (
    import_id  bigint NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    lines      integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- +goose Down
DROP TABLE contact_import_rejects;
DROP TABLE contact_import_chunks;
DROP INDEX contact_imports_active_idx;
ALTER TABLE contact_imports
    DROP COLUMN status, DROP COLUMN bytes, DROP COLUMN attempts, DROP COLUMN rejected_by_reason,
    DROP COLUMN first_rejects, DROP COLUMN first_duplicates, DROP COLUMN consent, DROP COLUMN error,
    DROP COLUMN error_field, DROP COLUMN started_at, DROP COLUMN finished_at, DROP COLUMN updated_at;
