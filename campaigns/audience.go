package campaigns

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crierhq/crier/consent"
)

// audienceSQL is the part of the launch and the preview that expands a campaign's
// audience: every contact the tags match, with the reason it gets no message (NULL when
// it gets one) and its due time. Both statements use it, so the preview counts exactly
// what a launch would materialise.
type audienceSQL struct {
	From   string // "FROM contacts c … WHERE …": the matched contacts
	Reason string // NULL, or the skip reason (text)
	Due    string // the due time (timestamptz), NULL when skipped for local_time_passed; "" without audienceOptions.due
	Args   []any  // the statement's own arguments followed by the fragments'
}

// audienceOptions say which parts a statement needs.
type audienceOptions struct {
	due bool // join the due-time table (launch; a preview only when local time can skip)
}

// Skip reasons the launch records, in the order they are decided: a contact gets the
// first that applies. consent.Exclusions gives suppressed, no_consent and withdrawn.
const (
	SkipInvalidPhone = "invalid_phone" // the contact has no keyed phone hash to check the suppression list with
	SkipNoConsent    = string(consent.ExcludedNoConsent)
	SkipWithdrawn    = string(consent.ExcludedWithdrawn)
	SkipSuppressed   = string(consent.ExcludedSuppressed)
)

// buildAudience returns the audience of campaign c for a run at runAt, whose messages are
// of purpose (the template's category). args are the statement's own first parameters;
// the fragments number theirs after them.
//
// The order of the reasons: excluded_tag (the marketer's own choice), invalid_phone,
// then consent (suppressed, no_consent, withdrawn: no consent, no message), then the
// frequency cap, then local_time_passed.
//
// Planner notes: the audience is a bitmap scan of the tags GIN index (or a sequential
// scan when most contacts match); consent_state, suppressions, the capped contacts and
// the due-time table are hash joins, each built once, so a million contacts cost one
// pass. The due-time table is joined by zone name: DueTable.
func (s *Service) buildAudience(ctx context.Context, c Campaign, purpose consent.Purpose, runAt time.Time,
	o audienceOptions, args ...any) (audienceSQL, error) {
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where []string
	if len(c.Audience.TagsAny) > 0 {
		where = append(where, "c.tags && "+param(c.Audience.TagsAny)+"::text[]")
	}
	if len(c.Audience.TagsAll) > 0 {
		where = append(where, "c.tags @> "+param(c.Audience.TagsAll)+"::text[]")
	}
	if len(where) == 0 {
		// Validation refuses an empty audience; a stored one that is empty matches nobody
		// rather than everybody.
		where = append(where, "false")
	}
	ex := consent.Exclusions("c", param(string(s.opts.Channel))+"::text", param(string(purpose))+"::text")
	joins := ex.Joins

	var reasons, rest []string // rest: the reasons after consent's
	if len(c.Audience.ExcludeTags) > 0 {
		reasons = append(reasons, "WHEN c.tags && "+param(c.Audience.ExcludeTags)+"::text[] THEN '"+SkipExcludedTag+"'")
	}
	// The phone's format is the contacts table's CHECK constraint; a contact without the
	// keyed hash cannot be checked against the suppression list, so it is not sent to.
	reasons = append(reasons, "WHEN c.phone_hash IS NULL THEN '"+SkipInvalidPhone+"'")
	consentExpr := ex.Expr // evaluated once: the later reasons go in its ELSE

	if cp := s.opts.FrequencyCap; purpose == consent.Marketing && cp.Max > 0 {
		// The marketing messages each contact got in the window, or has coming (queued or
		// being sent: they will land in it), across every campaign; the three scans each
		// have an index (deliveries_sent_idx, and the partial indexes on queued and
		// sending).
		since, max := param(runAt.Add(-cp.Window)), param(cp.Max)
		joins += fmt.Sprintf(`
			LEFT JOIN (
				SELECT d.contact_id FROM (
					SELECT contact_id, run_id FROM deliveries WHERE sent_at >= %[1]s::timestamptz
					UNION ALL SELECT contact_id, run_id FROM deliveries WHERE pending = 'queued' AND sent_at IS NULL
					UNION ALL SELECT contact_id, run_id FROM deliveries WHERE sending_since IS NOT NULL AND sent_at IS NULL
				) d JOIN campaign_runs r ON r.id = d.run_id AND r.purpose = 'marketing'
				WHERE d.contact_id IS NOT NULL
				GROUP BY d.contact_id HAVING count(*) >= %[2]s::int
			) capped ON capped.contact_id = c.id`, since, max)
		rest = append(rest, "WHEN capped.contact_id IS NOT NULL THEN '"+SkipFrequencyCapped+"'")
	}

	var out audienceSQL
	if o.due {
		zones, err := s.zoneNames(ctx)
		if err != nil {
			return audienceSQL{}, fmt.Errorf("time zones: %w", err)
		}
		table := NewDueTable(runAt, c.Schedule, c.QuietHours, zones)
		frag := table.SQL("c.timezone", "c.phone_zone", len(args)+1)
		args = append(args, frag.Args...)
		joins += "\n" + frag.Joins
		out.Due = frag.Due
		if c.Schedule.SkipPastLocal && c.Schedule.LocalTime != "" {
			rest = append(rest, "WHEN "+frag.Skip+" THEN '"+SkipLocalTimePassed+"'")
		}
	}
	later := "NULL"
	if len(rest) > 0 {
		later = "CASE " + strings.Join(rest, " ") + " END"
	}
	out.Reason = "(CASE " + strings.Join(reasons, "\n\t\t\t") + " ELSE coalesce(" + consentExpr + ", " + later + ") END)"
	out.From = "FROM contacts c " + joins + "\nWHERE " + strings.Join(where, " AND ")
	out.Args = args
	return out, nil
}
