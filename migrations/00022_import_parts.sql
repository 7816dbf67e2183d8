-- +goose Up
-- An import merges its rows on several connections at once, each in a transaction of its
-- own, over a share of the phones (contacts.Service.Import). Those transactions commit
-- just before the import's own; each writes its row here as it commits, so that a run
-- that dies between the commits is finished by the next one without merging that share
-- again, and with exact counts. The import's own transaction deletes the rows as it
-- commits. No foreign key: a part may commit before the row of its import does.
CREATE TABLE contact_import_parts (
    import_id bigint NOT NULL,
    part      integer NOT NULL,
    parts     integer NOT NULL,
    result    jsonb NOT NULL,
    PRIMARY KEY (import_id, part)
);

-- +goose Down
DROP TABLE contact_import_parts;
