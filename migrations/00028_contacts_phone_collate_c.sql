-- +goose Up
-- contacts.phone compares byte by byte (COLLATE "C") instead of by the database's
-- collation. An E.164 number is a "+" and ASCII digits, which every collation orders
-- alike, but PostgreSQL 15 compares text of any collation other than C or POSIX through
-- strcoll, C.UTF-8 included: about 20 calls for each probe or insert of
-- contacts_phone_key. An import probes and inserts each of its numbers there: 1.8 µs a
-- row less (docs/BENCHMARKS.md), and every look-up of a contact by number gains the same.
-- A number compared with text of the default collation is compared in C, so the index
-- still serves every query that finds contacts by number.
--
-- The table is not rewritten, but contacts_phone_key is rebuilt, under an exclusive lock
-- on contacts: 1.4–1.8 s at a million contacts (45 MB of index) on a two-core machine. The view and the trigger that read the
-- column are recreated as they were.
DROP VIEW contact_keys;
DROP TRIGGER contacts_phone_changed ON contacts;
ALTER TABLE contacts ALTER COLUMN phone TYPE text COLLATE "C";
CREATE TRIGGER contacts_phone_changed AFTER UPDATE OF phone ON contacts
    FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone)
    EXECUTE FUNCTION consent_forget_changed_phone();
CREATE VIEW contact_keys AS
SELECT id, phone, phone_hash, locale FROM contacts;

-- +goose Down
DROP VIEW contact_keys;
DROP TRIGGER contacts_phone_changed ON contacts;
ALTER TABLE contacts ALTER COLUMN phone TYPE text COLLATE "default";
CREATE TRIGGER contacts_phone_changed AFTER UPDATE OF phone ON contacts
    FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone)
    EXECUTE FUNCTION consent_forget_changed_phone();
CREATE VIEW contact_keys AS
SELECT id, phone, phone_hash, locale FROM contacts;
