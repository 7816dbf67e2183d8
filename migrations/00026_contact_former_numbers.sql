-- +goose Up
-- The ledger's phone_hash is searched for one thing: the entries recorded under a
-- subject's number by other contacts, since deleted or moved to another number, which the
-- subject's export and erasure must reach (consent.PrivacyHolder). Its btree took every
-- entry an import records to a random page of an index that outgrows PostgreSQL's
-- buffers: at a million entries, 15 µs an entry, more than the rest of the entry
-- (docs/BENCHMARKS.md). Those other contacts are kept here instead, with each number they
-- had: a row is written when a contact is deleted or its number changes, which an import
-- does not do, and the subject's entries are then read through the ledger's contact index.
CREATE TABLE contact_former_numbers (
    phone_hash bytea NOT NULL,
    contact_id bigint NOT NULL,
    PRIMARY KEY (phone_hash, contact_id)
);

-- Every entry whose number is not its contact's number now. Contacts are locked against
-- changes first, so that none is deleted or renumbered between this and the triggers.
LOCK TABLE contacts IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO contact_former_numbers (phone_hash, contact_id)
SELECT DISTINCT l.phone_hash, l.contact_id
FROM consent_ledger l LEFT JOIN contacts c ON c.id = l.contact_id
WHERE l.phone_hash IS NOT NULL AND (c.id IS NULL OR c.phone_hash IS DISTINCT FROM l.phone_hash);

DROP INDEX consent_ledger_phone_hash_idx;

-- Written whatever the contact's ledger holds: an entry being recorded for the contact
-- as it is deleted or renumbered is not visible here yet, and must still be reachable.
-- +goose StatementBegin
CREATE FUNCTION contact_former_numbers_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contact_former_numbers (phone_hash, contact_id)
    SELECT phone_hash, id FROM gone WHERE phone_hash IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER contacts_former_numbers_deleted AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION contact_former_numbers_deleted();

-- +goose StatementBegin
CREATE FUNCTION contact_former_numbers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contact_former_numbers (phone_hash, contact_id) VALUES (OLD.phone_hash, OLD.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER contacts_former_numbers_changed AFTER UPDATE OF phone_hash ON contacts
    FOR EACH ROW WHEN (OLD.phone_hash IS NOT NULL AND OLD.phone_hash IS DISTINCT FROM NEW.phone_hash)
    EXECUTE FUNCTION contact_former_numbers_changed();

-- +goose Down
DROP TRIGGER contacts_former_numbers_changed ON contacts;
DROP FUNCTION contact_former_numbers_changed;
DROP TRIGGER contacts_former_numbers_deleted ON contacts;
DROP FUNCTION contact_former_numbers_deleted;
CREATE INDEX consent_ledger_phone_hash_idx ON consent_ledger (phone_hash);
DROP TABLE contact_former_numbers;
