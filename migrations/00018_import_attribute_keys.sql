-- +goose Up
-- What a CSV import's attribute columns were, and which of them no contact had before it
-- (contacts.ImportResult.AttributeKeys, NewAttributeKeys), shown by GET /v1/imports/{id}.
ALTER TABLE contact_imports
    ADD COLUMN attribute_keys     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN new_attribute_keys text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE contact_imports DROP COLUMN attribute_keys, DROP COLUMN new_attribute_keys;
