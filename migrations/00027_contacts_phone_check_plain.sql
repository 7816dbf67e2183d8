-- +goose Up
-- contacts_phone_check said what an E.164 number is with a regular expression,
-- '^\+[1-9][0-9]{6,14}$', which PostgreSQL ran for every contact an import writes:
-- about 2.2 µs a row, 4 % of PostgreSQL's CPU in a million-row import
-- (docs/BENCHMARKS.md). The same rule in plain string functions costs about 0.6 µs:
-- from 8 to 16 bytes, a "+", then only ASCII digits, the first of them not 0.
-- octet_length counts bytes, and a character outside ASCII is not a digit that btrim
-- removes, so "only ASCII digits" needs no other test. TestPhoneCheckIsThePattern holds
-- the two to the same answers.
ALTER TABLE contacts DROP CONSTRAINT contacts_phone_check,
    ADD CONSTRAINT contacts_phone_check CHECK (
        octet_length(phone) BETWEEN 8 AND 16
        AND left(phone, 1) = '+'
        AND substr(phone, 2, 1) <> '0'
        AND btrim(substr(phone, 2), '0123456789') = '');

-- +goose Down
ALTER TABLE contacts DROP CONSTRAINT contacts_phone_check,
    ADD CONSTRAINT contacts_phone_check CHECK (phone ~ '^\+[1-9][0-9]{6,14}$');
