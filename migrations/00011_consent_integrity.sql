-- +goose Up

-- An opt-out belongs to the number as much as to the contact record (DESIGN §3, invariant
-- 11). This migration makes the database hold that, whatever the application does:
--
--   * the ledger is append-only for every statement: no DELETE, no TRUNCATE, and the one
--     UPDATE allowed is erasure's pseudonymisation of the evidence;
--   * each entry names the number it was about (its keyed hash), so deleting a contact or
--     changing its phone leaves the proof in place;
--   * the suppression list is per number and purpose, with the kind of source that put the
--     number there, so that a lift can be limited to what its source may lift;
--   * every withdrawal already in the ledger gets its suppression (they did not all have
--     one: an agent's, the API's or an import's withdrawal suppressed nothing);
--   * deleting a contact no longer deletes its ledger, and a changed phone drops the
--     contact's current consent: the new number has none of its own.

-- The ledger. The append-only trigger is re-created below; it refuses the backfill too.
DROP TRIGGER consent_ledger_no_update ON consent_ledger;

ALTER TABLE consent_ledger ADD COLUMN phone_hash bytea;
UPDATE consent_ledger l SET phone_hash = c.phone_hash FROM contacts c WHERE c.id = l.contact_id;
CREATE INDEX consent_ledger_phone_hash_idx ON consent_ledger (phone_hash);

-- sandbox: a simulated customer message; channel: the network's own opt-out signal;
-- compliance: a compliance officer's grant with typed evidence.
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_source_check;
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_source_check CHECK (source IN
    ('form', 'import', 'keyword', 'agent', 'api', 'sandbox', 'channel', 'compliance'));

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Erasure's pseudonymisation (GDPR Art. 17 against Art. 7(1)): the evidence, which may
    -- hold an email or an IP address, becomes {"erased": true}; who decided what, when and
    -- for which number stays.
    IF TG_OP = 'UPDATE' AND NEW.evidence = '{"erased": true}'::jsonb
       AND (NEW.id, NEW.contact_id, NEW.channel, NEW.purpose, NEW.status, NEW.source, NEW.actor,
            NEW.occurred_at, NEW.recorded_at, NEW.lifted_suppression, NEW.phone_hash)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.contact_id, OLD.channel, OLD.purpose, OLD.status, OLD.source, OLD.actor,
            OLD.occurred_at, OLD.recorded_at, OLD.lifted_suppression, OLD.phone_hash)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent_ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation', HINT = 'record a new entry instead';
END $$;
-- +goose StatementEnd

CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_append_only();

-- The suppression list, per number and purpose. A suppression that applied to everything
-- (all of them so far) becomes one row for each purpose.
ALTER TABLE suppressions DROP CONSTRAINT suppressions_pkey;
ALTER TABLE suppressions ADD COLUMN purpose text NOT NULL DEFAULT 'marketing'
    CHECK (purpose IN ('marketing', 'utility'));
ALTER TABLE suppressions ADD COLUMN actor text NOT NULL DEFAULT '';
INSERT INTO suppressions (phone_hash, purpose, reason, source, actor, created_at)
    SELECT phone_hash, 'utility', reason, source, actor, created_at FROM suppressions;
ALTER TABLE suppressions ALTER COLUMN purpose DROP DEFAULT;
ALTER TABLE suppressions ADD PRIMARY KEY (phone_hash, purpose);

-- source was free text ("keyword", "erasure", or the API key that added it): it is now the
-- kind of source, and the key moves to actor.
UPDATE suppressions SET actor = source, source = 'staff' WHERE source NOT IN ('keyword', 'erasure');
ALTER TABLE suppressions ADD CONSTRAINT suppressions_source_check CHECK (source IN
    ('keyword', 'sandbox', 'channel', 'form', 'agent', 'api', 'compliance', 'import', 'staff', 'erasure'));

-- How hard a suppression is to lift: a simulated one (0) by a simulated START; one staff
-- added (1) by compliance removing it, or as the customer's own (2) by their START or a
-- compliance grant with evidence; a legal one (3) only by compliance removing it. A number
-- suppressed again keeps the stronger entry, so a weaker source never makes a suppression
-- easier to lift.
-- +goose StatementBegin
CREATE FUNCTION suppression_strength(reason text, source text) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN reason = 'legal' THEN 3 WHEN source = 'sandbox' THEN 0 WHEN source = 'staff' THEN 1 ELSE 2 END;
-- +goose StatementEnd

-- Every withdrawal suppresses: the withdrawals already recorded get theirs (for the purpose
-- withdrawn, with the source of the withdrawal).
INSERT INTO suppressions (phone_hash, purpose, reason, source, actor, created_at)
    SELECT c.phone_hash, s.purpose, 'opt_out', l.source, l.actor, l.recorded_at
    FROM consent_state s
    JOIN consent_ledger l ON l.id = s.ledger_id
    JOIN contacts c ON c.id = s.contact_id
    WHERE s.status = 'withdrawn' AND c.phone_hash IS NOT NULL
ON CONFLICT (phone_hash, purpose) DO NOTHING;

-- Deleting contacts keeps their ledger (the proof) and drops their current state; their
-- inbound messages are unlinked, as before.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION consent_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM consent_state s USING gone g WHERE s.contact_id = g.id;
    UPDATE inbound_messages m SET contact_id = NULL FROM gone g WHERE m.contact_id = g.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A contact whose number changes has no consent of its own until new evidence is recorded:
-- the state was about the old number (whose ledger entries, and any suppression, stay).
-- +goose StatementBegin
CREATE FUNCTION consent_forget_changed_phone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM consent_state WHERE contact_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER contacts_phone_changed AFTER UPDATE OF phone ON contacts
    FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone)
    EXECUTE FUNCTION consent_forget_changed_phone();

-- A simulated inbound message (the sandbox API) names who simulated it; NULL for a real one.
ALTER TABLE inbound_messages ADD COLUMN simulated_by text;

-- +goose Down
ALTER TABLE inbound_messages DROP COLUMN simulated_by;
DROP TRIGGER contacts_phone_changed ON contacts;
DROP FUNCTION consent_forget_changed_phone;
DROP TRIGGER consent_ledger_no_truncate ON consent_ledger;
DROP TRIGGER consent_ledger_append_only ON consent_ledger;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION consent_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM consent_state s USING gone g WHERE s.contact_id = g.id;
    DELETE FROM consent_ledger l USING gone g WHERE l.contact_id = g.id;
    UPDATE inbound_messages m SET contact_id = NULL FROM gone g WHERE m.contact_id = g.id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_ledger is append-only'
        USING ERRCODE = 'restrict_violation', HINT = 'record a new entry instead';
END $$;
-- +goose StatementEnd
DROP FUNCTION suppression_strength;
ALTER TABLE suppressions DROP CONSTRAINT suppressions_source_check;
UPDATE suppressions SET source = actor WHERE source = 'staff';
DELETE FROM suppressions u WHERE purpose = 'utility'
    AND EXISTS (SELECT 1 FROM suppressions m WHERE m.phone_hash = u.phone_hash AND m.purpose = 'marketing');
ALTER TABLE suppressions DROP CONSTRAINT suppressions_pkey;
ALTER TABLE suppressions DROP COLUMN actor, DROP COLUMN purpose;
ALTER TABLE suppressions ADD PRIMARY KEY (phone_hash);
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_source_check;
UPDATE consent_ledger SET source = 'api' WHERE source IN ('sandbox', 'channel', 'compliance');
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_source_check CHECK (source IN
    ('form', 'import', 'keyword', 'agent', 'api'));
DROP INDEX consent_ledger_phone_hash_idx;
ALTER TABLE consent_ledger DROP COLUMN phone_hash;
CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();
