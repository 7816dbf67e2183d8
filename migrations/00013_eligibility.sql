-- +goose Up
-- Who may be messaged, defined once (package consent owns it): the launch and the preview
-- of a campaign's audience, the claim of each message at send time and
-- consent.(*Service).Eligibility all read this function.
--
-- contact_eligibility returns every contact with the reason it may not be sent a message
-- of this channel and purpose, NULL when it may. The first reason that applies wins:
--
--   invalid_phone  the contact has no keyed phone hash, so the suppression list cannot be
--                  checked for its number;
--   suppressed     its number is on the suppression list for the purpose;
--   no_consent     it never granted consent for the channel and purpose;
--   withdrawn      it granted consent once and withdrew it.
--
-- The contact comes out whole (the column contact, of the contacts row type), so that a
-- statement filters and reads it through the function, (e.contact).tags, instead of
-- joining contacts a second time. The function is LANGUAGE sql, STABLE and a single
-- SELECT, so PostgreSQL inlines it into the calling statement: over a million contacts
-- the two joins are hash joins, each built once; for one contact, filtered by
-- (e.contact).id, they are primary-key lookups.
-- +goose StatementBegin
CREATE FUNCTION contact_eligibility(channel text, purpose text)
    RETURNS TABLE (contact contacts, exclusion text)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT c,
           CASE
               WHEN c.phone_hash IS NULL THEN 'invalid_phone'
               WHEN sup.phone_hash IS NOT NULL THEN 'suppressed'
               WHEN cs.status IS NULL THEN 'no_consent'
               WHEN cs.status <> 'granted' THEN 'withdrawn'
           END
    FROM contacts c
    LEFT JOIN consent_state cs
           ON cs.contact_id = c.id AND cs.channel = contact_eligibility.channel
          AND cs.purpose = contact_eligibility.purpose
    LEFT JOIN suppressions sup
           ON sup.phone_hash = c.phone_hash AND sup.purpose = contact_eligibility.purpose;
END;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION contact_eligibility(text, text);
