-- +goose Up
-- contact_keys is what other packages may read of a contact. Package contacts owns the
-- contacts table and is the only one to write it; consent finds and locks contacts through
-- this view: the id, the number in E.164, the number's keyed hash and the locale. It is a
-- simple view, so PostgreSQL expands it into each statement at no cost (the indexes on
-- contacts serve it), and SELECT … FOR UPDATE through it locks the contact's row.
CREATE VIEW contact_keys AS
SELECT id, phone, phone_hash, locale FROM contacts;

-- +goose Down
DROP VIEW contact_keys;
