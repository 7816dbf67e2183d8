-- +goose Up

-- Accounts on WhatsApp's Cloud API (issue 18). Typed columns rather than jsonb: the
-- webhook finds its account by phone_number_id, and a CHECK can hold a cloud account to
-- its required fields. The access token and app secret are stored only as
-- internal/secretbox output ("v1:…"), never as plaintext.
ALTER TABLE accounts DROP CONSTRAINT accounts_channel_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_channel_check CHECK (channel IN ('whatsapp', 'sandbox', 'whatsapp_cloud'));

ALTER TABLE accounts
    ADD COLUMN phone_number_id     text NOT NULL DEFAULT '',
    ADD COLUMN waba_id             text NOT NULL DEFAULT '',
    ADD COLUMN graph_url           text NOT NULL DEFAULT '',
    ADD COLUMN api_version         text NOT NULL DEFAULT '',
    ADD COLUMN verify_token        text NOT NULL DEFAULT '',
    ADD COLUMN access_token_sealed text NOT NULL DEFAULT '',
    ADD COLUMN app_secret_sealed   text NOT NULL DEFAULT '',
    ADD CONSTRAINT accounts_cloud_check CHECK (
        CASE WHEN channel = 'whatsapp_cloud'
            THEN phone_number_id <> '' AND waba_id <> '' AND graph_url <> '' AND api_version <> ''
                AND access_token_sealed LIKE 'v1:%' AND app_secret_sealed LIKE 'v1:%'
            ELSE phone_number_id = '' AND waba_id = '' AND graph_url = '' AND api_version = ''
                AND verify_token = '' AND access_token_sealed = '' AND app_secret_sealed = ''
        END);

-- One live account per Cloud API number: inbound webhooks are routed by it.
CREATE UNIQUE INDEX accounts_phone_number_id_idx ON accounts (phone_number_id)
    WHERE channel = 'whatsapp_cloud' AND deleted_at IS NULL;

-- +goose Down

-- Going down would lose the cloud accounts' configuration and strand their deliveries:
-- refuse while any exists, deleted or not, and let an operator decide.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM accounts WHERE channel = 'whatsapp_cloud') THEN
        RAISE EXCEPTION 'whatsapp_cloud accounts exist: remove them before migrating below 00015';
    END IF;
END
$$;
-- +goose StatementEnd

DROP INDEX accounts_phone_number_id_idx;
ALTER TABLE accounts
    DROP CONSTRAINT accounts_cloud_check,
    DROP COLUMN phone_number_id,
    DROP COLUMN waba_id,
    DROP COLUMN graph_url,
    DROP COLUMN api_version,
    DROP COLUMN verify_token,
    DROP COLUMN access_token_sealed,
    DROP COLUMN app_secret_sealed;
ALTER TABLE accounts DROP CONSTRAINT accounts_channel_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_channel_check CHECK (channel IN ('whatsapp', 'sandbox'));
