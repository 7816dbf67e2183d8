-- +goose Up

-- The Cloud API's side of sending (issue 18).

-- The WhatsApp Business Accounts' message templates as Meta last described them, pulled
-- by the template sync. A campaign on a cloud account may be scheduled only when each
-- locale it sends names one that is APPROVED in the category of the campaign's template.
CREATE TABLE cloud_templates (
    waba_id    text NOT NULL,
    name       text NOT NULL,
    language   text NOT NULL,             -- Meta's code: en_US, pt_BR, de
    meta_id    text NOT NULL DEFAULT '',
    category   text NOT NULL,             -- MARKETING, UTILITY, AUTHENTICATION
    status     text NOT NULL,             -- APPROVED, PENDING, REJECTED, PAUSED, DISABLED, …
    reason     text NOT NULL DEFAULT '',  -- why it was rejected or paused, as Meta says
    components jsonb NOT NULL DEFAULT '[]',
    synced_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (waba_id, name, language)
);

-- Each message sent through the Cloud API, by Crier's message id: Meta chooses its own
-- id (the wamid), so a retry must find out whether an earlier attempt was accepted before
-- it sends again. A row is written before Meta is called and gets its wamid once Meta
-- answers, or once a status webhook names the attempt (biz_opaque_callback_data). No
-- phone number or text is kept here.
CREATE TABLE cloud_messages (
    message_id   text PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    wamid        text UNIQUE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    accepted_at  timestamptz
);

-- Webhook POSTs as received, signature checked, until a worker has processed them. The
-- body holds customers' numbers and texts: it is cleared when processed, and rows are
-- deleted after a week.
CREATE TABLE cloud_webhooks (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    body         bytea,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    attempts     int NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT ''
);
CREATE INDEX cloud_webhooks_unprocessed_idx ON cloud_webhooks (received_at) WHERE processed_at IS NULL;

-- The events already handled (Meta retries a webhook it thinks failed, and may send an
-- event twice): a key per message id and event, never a number.
CREATE TABLE cloud_webhook_events (
    key     text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cloud_webhook_events_seen_idx ON cloud_webhook_events (seen_at);

-- whatsapp: WhatsApp itself reported that the person stopped marketing messages from the
-- business (the Cloud API's error 131050).
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_source_check;
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_source_check CHECK (source IN
    ('form', 'import', 'keyword', 'agent', 'api', 'sandbox', 'channel', 'compliance', 'whatsapp'));
ALTER TABLE suppressions DROP CONSTRAINT suppressions_source_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_source_check CHECK (source IN
    ('keyword', 'sandbox', 'channel', 'form', 'agent', 'api', 'compliance', 'import', 'staff', 'erasure', 'whatsapp'));

-- +goose Down

-- The ledger is append-only, so its entries of source whatsapp cannot be rewritten to an
-- older source: refuse while any exists.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM consent_ledger WHERE source = 'whatsapp') THEN
        RAISE EXCEPTION 'consent_ledger holds entries of source whatsapp: they are proof and cannot be rewritten';
    END IF;
END
$$;
-- +goose StatementEnd
UPDATE suppressions SET source = 'channel' WHERE source = 'whatsapp';
ALTER TABLE suppressions DROP CONSTRAINT suppressions_source_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_source_check CHECK (source IN
    ('keyword', 'sandbox', 'channel', 'form', 'agent', 'api', 'compliance', 'import', 'staff', 'erasure'));
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_source_check;
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_source_check CHECK (source IN
    ('form', 'import', 'keyword', 'agent', 'api', 'sandbox', 'channel', 'compliance'));
DROP TABLE cloud_webhook_events;
DROP TABLE cloud_webhooks;
DROP TABLE cloud_messages;
DROP TABLE cloud_templates;
