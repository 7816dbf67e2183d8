-- +goose Up

-- Each contact carries the keyed hash of its phone (HMAC-SHA256 under CRIER_HASH_KEY, set
-- by the application), so that "not suppressed" is an indexed join. NULL only on rows
-- older than this column, until `crier serve` backfills them at start.
ALTER TABLE contacts ADD COLUMN phone_hash bytea;
CREATE UNIQUE INDEX contacts_phone_hash_idx ON contacts (phone_hash);

-- The import now records its consent column straight into the ledger.
DROP TABLE contact_import_consents;

-- The consent ledger: append-only proof of consent (GDPR Art. 7(1)). One row per change of
-- a contact's consent for a channel and purpose, with where it came from and the evidence.
-- No foreign key to contacts: a million-row import would pay a trigger per row; the
-- cleanup trigger below removes a deleted contact's rows instead.
CREATE TABLE consent_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  bigint NOT NULL,
    channel     text NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('marketing', 'utility')),
    status      text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    source      text NOT NULL CHECK (source IN ('form', 'import', 'keyword', 'agent', 'api')),
    evidence    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object'),
    actor       text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- a granted entry that lifted a suppression of the contact's number says so
    lifted_suppression boolean NOT NULL DEFAULT false,
    CHECK (status = 'withdrawn' OR evidence <> '{}')
);

CREATE INDEX consent_ledger_contact_idx ON consent_ledger (contact_id, id);

-- +goose StatementBegin
CREATE FUNCTION consent_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_ledger is append-only'
        USING ERRCODE = 'restrict_violation', HINT = 'record a new entry instead';
END $$;
-- +goose StatementEnd

CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();

-- The current consent of each contact, channel and purpose: the ledger's latest entry,
-- kept in the same transaction as the ledger so that an audience of a million contacts
-- filters on it in one join.
CREATE TABLE consent_state (
    contact_id bigint NOT NULL,
    channel    text NOT NULL,
    purpose    text NOT NULL,
    status     text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    ledger_id  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, channel, purpose)
);

-- The do-not-contact list, keyed by the phone's keyed hash so that it survives erasure
-- without holding the number.
CREATE TABLE suppressions (
    phone_hash bytea PRIMARY KEY,
    reason     text NOT NULL CHECK (reason IN ('opt_out', 'complaint', 'manual', 'legal', 'erasure')),
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Messages customers sent to our accounts. from_phone and text are personal data: text is
-- purged after the retention period, and erasure clears both.
CREATE TABLE inbound_messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL,
    provider_id  text NOT NULL,
    from_phone   text,
    phone_hash   bytea NOT NULL,
    contact_id   bigint,
    text         text,
    received_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    class        text,        -- set when processed: opt_out, opt_in, help, none
    processed_at timestamptz,
    reply_text   text,        -- our confirmation or help text, if one is due
    reply_status text NOT NULL DEFAULT 'none' CHECK (reply_status IN ('none', 'pending', 'sent')),
    UNIQUE (account_id, provider_id)
);

CREATE INDEX inbound_messages_contact_idx ON inbound_messages (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX inbound_messages_hash_idx ON inbound_messages (phone_hash);
CREATE INDEX inbound_messages_received_idx ON inbound_messages (received_at) WHERE text IS NOT NULL;

-- Deleting contacts deletes their consent rows and unlinks their inbound messages, in one
-- statement-level pass instead of a foreign-key trigger per inserted row.
-- +goose StatementBegin
CREATE FUNCTION consent_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM consent_state s USING gone g WHERE s.contact_id = g.id;
    DELETE FROM consent_ledger l USING gone g WHERE l.contact_id = g.id;
    UPDATE inbound_messages m SET contact_id = NULL FROM gone g WHERE m.contact_id = g.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER contacts_forget_consent AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION consent_forget_deleted_contacts();

-- +goose Down
DROP TRIGGER contacts_forget_consent ON contacts;
DROP FUNCTION consent_forget_deleted_contacts;
DROP TABLE inbound_messages;
DROP TABLE suppressions;
DROP TABLE consent_state;
DROP TABLE consent_ledger;
DROP FUNCTION consent_ledger_append_only;
CREATE TABLE contact_import_consents (
    import_id  bigint NOT NULL,
    line       bigint NOT NULL,
    contact_id bigint NOT NULL,
    status     text NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    PRIMARY KEY (import_id, line)
);
DROP INDEX contacts_phone_hash_idx;
ALTER TABLE contacts DROP COLUMN phone_hash;
