package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/consent"
)

// The launch records the skip reasons (delivery.SkipReason) it decides in the order
// delivery/skip.go gives them: a contact gets the first that applies. excluded_tag (the
// marketer's own choice) comes first; then eligibility, decided by consent's
// contact_eligibility: invalid_phone, suppressed, no_consent, withdrawn (no consent, no
// message); then frequency_capped, then local_time_passed. launchDeliveries spells them in
// SQL; a test checks that they are the constants.

// The audience statements: launchDeliveries, previewCounts and previewSamples. Each reads
// the same audience, the subquery m (audienceSubquery; the samples read
// audienceSubqueryFew, which differs only in how the frequency cap is counted), so that
// the preview counts exactly what a launch would materialise. m has a row per contact the campaign's filter (Audience) matches, with:
//
//   - contact: the contact (the contacts row type, read as (m.contact).id);
//   - reason: the skip reason, NULL when the contact gets the message (the first that
//     applies, in the order given above);
//   - due: when the message is due, NULL when skipped for local_time_passed;
//   - zone: the recipient zone due was read in (schedule.RecipientZone).
//
// Its parameters, $1 to $23 in every audience statement, are audienceArgs:
//
//	$1  tags_any text[]          the contact has one of them ('{}': no condition)
//	$2  tags_all text[]          the contact has all of them ('{}': no condition); one
//	                             of tags_any and tags_all must be given: an empty
//	                             audience matches nobody
//	$3  exclude_tags text[]      excluded_tag for a contact with one of them
//	$4  channel text             eligibility: contact_eligibility(channel, purpose)
//	$5  purpose text
//	$6  cap_max int              the frequency cap (0: none, or not a marketing message):
//	$7  cap_since timestamptz    frequency_capped for a contact with cap_max marketing
//	                             messages sent since cap_since or pending
//	$8  skip_past_local boolean  the schedule skips recipients whose local time has passed
//	$9  zones text[]             the due table (schedule.DueTable), each zone once: the
//	$10 zone_dues timestamptz[]  due time (NULL when skipped) and whether to skip, by the
//	$11 zone_skips boolean[]     contact's timezone, else its phone zone, else the
//	$12 fallback_zone text       campaign's fallback zone
//	$13 fallback_due timestamptz
//	$14 fallback_skip boolean
//	$15 attributes jsonpath      the attribute conditions (attributePath; NULL: none), run
//	$16 attribute_vars jsonb     with their values by jsonb_path_match_tz, silent: a type
//	                             that does not fit does not match, never an error
//	$17 countries text[]         the contact's country, else its phone region, is one
//	$18 locales text[]           its locale, or the language of it, is one
//	$19 consent_since timestamptz  its consent for channel and purpose was granted (the
//	                             ledger entry's occurred_at) since then (NULL: no condition)
//	$20 engaged_since timestamptz  it read a message or replied since then (NULL: none)
//	$21 never_engaged boolean    it never read a message nor replied
//	$22 from_id bigint           a launch's part: the contacts whose id is in [$22, $23),
//	$23 to_id bigint             NULL an open end (a preview: both), through
//	                             contact_eligibility, which bounds the consent it joins
//	                             too, and the contacts capGrouped groups
//
// One of $1, $2, $15, $17 and $18 must be given: an empty audience matches nobody. The
// arrays are never NULL (cardinality(NULL) is NULL: nobody would match): none is '{}'.
//
// Planner notes. The statements run with plan_cache_mode = force_custom_plan (see
// audienceSettings): PostgreSQL plans them for the values given, so the fixed predicates
// fold to what applies ("cardinality('{vip}') = 0 OR tags && '{vip}'" becomes
// "tags && '{vip}'", which the tags GIN index serves, or a sequential scan when most
// contacts match). Eligibility (contact_eligibility, inlined), the capped contacts and the
// due table are hash joins, each built once, so a million contacts cost one pass. A join
// whose columns a statement does not read is left out: the due table (each zone once,
// which DISTINCT ON tells the planner) when the statement reads no due time and the
// schedule skips nobody ($8), the capped contacts when there is no cap ($6 = 0), each
// condition $15 to $21 when it is not given. The consent and engagement conditions are
// uncorrelated IN (NOT IN) subqueries, which PostgreSQL runs as hashed subplans, built once:
// no index on deliveries is needed (receipts must stay HOT updates). The attribute
// conditions are one jsonpath, evaluated per contact the other conditions leave.

// audienceSubquery is m, the audience every audience statement reads: audienceHead,
// the contacts at the frequency cap (capGrouped), audienceTail.
const audienceSubquery = audienceHead + capGrouped + audienceTail

// audienceSubqueryFew is m for a statement that reads a few of its contacts (the
// samples): the same audience, with the cap counted per contact (capPerContact).
const audienceSubqueryFew = audienceHead + capPerContact + audienceTail

const audienceHead = `
	SELECT e.contact,
	       CASE
	           WHEN cardinality($3::text[]) > 0 AND (e.contact).tags && $3::text[] THEN 'excluded_tag'
	           ELSE coalesce(e.exclusion, CASE
	               WHEN $6::int > 0 AND capped.contact_id IS NOT NULL THEN 'frequency_capped'
	               WHEN $8::boolean AND CASE WHEN due_ctz.zone IS NOT NULL THEN due_ctz.skip
	                                         WHEN due_pz.zone IS NOT NULL THEN due_pz.skip
	                                         ELSE $14::boolean END THEN 'local_time_passed'
	           END)
	       END AS reason,
	       CASE WHEN due_ctz.zone IS NOT NULL THEN due_ctz.due
	            WHEN due_pz.zone IS NOT NULL THEN due_pz.due
	            ELSE $13::timestamptz END AS due,
	       coalesce(due_ctz.zone, due_pz.zone, $12::text) AS zone
	FROM contact_eligibility($4::text, $5::text, $22::bigint, $23::bigint) e
`

// capGrouped is capped, the contacts at the cap, for every contact at once (of a launch's
// part: its range): the marketing messages sent since cap_since or pending, grouped by
// contact, one hash join. Each branch
// reads a partial index: those sent by deliveries_sent_idx; the queued ones without a task
// by deliveries_dispatch_idx and those with one by deliveries_inflight_idx (no index holds
// every queued delivery, migration 00024); those being sent by deliveries_sending_idx.
const capGrouped = `
	LEFT JOIN (
	    SELECT d.contact_id
	    FROM (SELECT contact_id, run_id FROM deliveries WHERE sent_at >= $7::timestamptz
	          UNION ALL SELECT contact_id, run_id FROM deliveries
	                    WHERE pending = 'queued' AND enqueued_at IS NULL AND sent_at IS NULL
	          UNION ALL SELECT contact_id, run_id FROM deliveries
	                    WHERE pending = 'queued' AND enqueued_at IS NOT NULL AND sent_at IS NULL
	          UNION ALL SELECT contact_id, run_id FROM deliveries WHERE sending_since IS NOT NULL AND sent_at IS NULL) d
	    JOIN campaign_runs r ON r.id = d.run_id AND r.purpose = 'marketing'
	    WHERE $6::int > 0 AND d.contact_id IS NOT NULL
	      AND ($22::bigint IS NULL OR d.contact_id >= $22::bigint) AND ($23::bigint IS NULL OR d.contact_id < $23::bigint)
	    GROUP BY d.contact_id HAVING count(*) >= $6::int
	) capped ON capped.contact_id = (e.contact).id
`

// capPerContact is capped counted for each contact as it is read, by
// deliveries_contact_idx: a few index lookups where capGrouped would group every message
// sent in the window before the first row.
const capPerContact = `
	LEFT JOIN LATERAL (
	    SELECT (e.contact).id AS contact_id
	    WHERE $6::int > 0 AND (
	        SELECT count(*) FROM deliveries d JOIN campaign_runs r ON r.id = d.run_id AND r.purpose = 'marketing'
	        WHERE d.contact_id = (e.contact).id
	          AND (d.sent_at >= $7::timestamptz
	               OR (d.sent_at IS NULL AND (d.pending = 'queued' OR d.sending_since IS NOT NULL)))) >= $6::int
	) capped ON true
`

const audienceTail = `	LEFT JOIN (SELECT DISTINCT ON (zone) zone, due, skip
	           FROM unnest($9::text[], $10::timestamptz[], $11::boolean[]) AS z(zone, due, skip)) due_ctz
	       ON due_ctz.zone = (e.contact).timezone
	LEFT JOIN (SELECT DISTINCT ON (zone) zone, due, skip
	           FROM unnest($9::text[], $10::timestamptz[], $11::boolean[]) AS z(zone, due, skip)) due_pz
	       ON due_pz.zone = (e.contact).phone_zone
	WHERE (cardinality($1::text[]) > 0 OR cardinality($2::text[]) > 0 OR $15::jsonpath IS NOT NULL
	       OR cardinality($17::text[]) > 0 OR cardinality($18::text[]) > 0)
	  AND (cardinality($1::text[]) = 0 OR (e.contact).tags && $1::text[])
	  AND (cardinality($2::text[]) = 0 OR (e.contact).tags @> $2::text[])
	  AND ($15::jsonpath IS NULL OR jsonb_path_match_tz((e.contact).attributes, $15::jsonpath, $16::jsonb, true))
	  AND (cardinality($17::text[]) = 0
	       OR coalesce(nullif((e.contact).country, ''), (e.contact).phone_region) = ANY($17::text[]))
	  AND (cardinality($18::text[]) = 0 OR (e.contact).locale = ANY($18::text[])
	       OR split_part((e.contact).locale, '-', 1) = ANY($18::text[]))
	  AND ($19::timestamptz IS NULL OR (e.contact).id IN (
	      SELECT cs.contact_id FROM consent_state cs JOIN consent_ledger l ON l.id = cs.ledger_id
	      WHERE cs.channel = $4::text AND cs.purpose = $5::text AND cs.status = 'granted'
	        AND l.occurred_at >= $19::timestamptz))
	  AND ($20::timestamptz IS NULL OR (e.contact).id IN (
	      SELECT d.contact_id FROM delivery_events de JOIN deliveries d ON d.id = de.delivery_id
	      WHERE de.kind = 'read' AND de.occurred_at >= $20::timestamptz AND d.contact_id IS NOT NULL
	      UNION ALL
	      SELECT im.contact_id FROM inbound_messages im
	      WHERE im.received_at >= $20::timestamptz AND im.contact_id IS NOT NULL))
	  AND (NOT $21::boolean OR (e.contact).id NOT IN (
	      SELECT d.contact_id FROM delivery_events de JOIN deliveries d ON d.id = de.delivery_id
	      WHERE de.kind = 'read' AND d.contact_id IS NOT NULL
	      UNION ALL
	      SELECT im.contact_id FROM inbound_messages im WHERE im.contact_id IS NOT NULL))
`

// launchDeliveries materialises a run: a delivery per contact of the audience, queued
// with its due time or skipped with its reason, and returns how many it made and how many
// of those are queued. The run is new in the launch's transaction, so no row can
// conflict: a plain INSERT, without ON CONFLICT's speculative insertion (UNIQUE (run_id,
// contact_id) still holds the invariant). Skipped deliveries are due at the run's time.
//
// It appends the run's counters in the same statement, one row per skip reason (and one
// for the queued), as migration 00021's triggers would for any other change: no trigger
// counts inserts (migration 00023). A launched delivery is queued or skipped, with no
// variant, account, send or receipt yet.
//
// The launch makes a run in parts (Service.Launch), each the contacts in a range of ids
// ($22 and $23), which PostgreSQL estimates from the id's histogram (a modulo would get a
// default selectivity of 0.5 %, and nested loops planned for a two-hundredth of the
// rows). With one part, both ends open, the range folds away (the statement is planned
// for its values).
//
//	$1-$23 the audience (audienceArgs), $24 run_id bigint, $25 campaign_id bigint,
//	$26 run_at timestamptz
const launchDeliveries = `
WITH ins AS (
	INSERT INTO deliveries (run_id, campaign_id, contact_id, status, skip_reason, due_at)
	SELECT $24::bigint, $25::bigint, (m.contact).id, CASE WHEN m.reason IS NULL THEN 'queued' ELSE 'skipped' END,
	       m.reason, coalesce(m.due, $26::timestamptz)
	FROM (` + audienceSubquery + `) m
	RETURNING skip_reason
), counted AS (
	INSERT INTO delivery_counts (campaign_id, run_id, variant, account_id, skip_reason, total, queued,
		sending, sent, delivered, read, failed, skipped, cancelled, expired, opted_out, replied)
	SELECT $25::bigint, $24::bigint, NULL, NULL, skip_reason, count(*), count(*) FILTER (WHERE skip_reason IS NULL),
		0, 0, 0, 0, 0, count(*) FILTER (WHERE skip_reason IS NOT NULL), 0, 0,
		count(*) FILTER (WHERE skip_reason = 'opted_out'), 0
	FROM ins GROUP BY skip_reason
)
SELECT count(*), count(*) FILTER (WHERE skip_reason IS NULL) FROM ins`

// previewCounts counts the audience by skip reason (NULL: eligible).
//
//	$1-$23 the audience (audienceArgs)
const previewCounts = `
SELECT m.reason, count(*)
FROM (` + audienceSubquery + `) m
GROUP BY m.reason`

// previewSamples reads the first eligible contacts of the audience, by id, with what a
// message is rendered with.
//
//	$1-$23 the audience (audienceArgs), $24 limit int
const previewSamples = `
SELECT (m.contact).id, (m.contact).phone, (m.contact).name, (m.contact).email, (m.contact).locale,
       coalesce(nullif((m.contact).country, ''), (m.contact).phone_region), (m.contact).timezone,
       (m.contact).tags, (m.contact).attributes
FROM (` + audienceSubqueryFew + `) m
WHERE m.reason IS NULL
ORDER BY (m.contact).id
LIMIT $24`

// audienceSettings are the launch's and the preview's transaction settings. The statements
// are big, one-off ones: plans for their parameter values (a generic plan cannot use the
// tags index for "cardinality($1) = 0 OR tags && $1"), no JIT compilation (it costs more
// than it saves here: 1.5 s at a million rows), and a consent hash join that fits in memory.
//
// TimeZone is UTC for the attribute dates: an attribute date without an offset, and a
// date compared with an instant, are read in UTC whatever the server's default.
const audienceSettings = `SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off; ` +
	`SET LOCAL work_mem = '128MB'; SET LOCAL enable_mergejoin = off; SET LOCAL TimeZone = 'UTC'`

// countSettings are audienceSettings for the counts (a preview's, a segment's), which
// read the whole audience and return a few rows: parallel workers are worth starting for
// them (at a million contacts, 1.0–1.1 s instead of 1.6–1.7 s on two cores), and
// PostgreSQL's default costs would have each scan run alone. The launch cannot use them
// (an INSERT … SELECT runs in one process).
const countSettings = audienceSettings + `; SET LOCAL parallel_setup_cost = 10; SET LOCAL parallel_tuple_cost = 0.001`

// audienceArgs returns the parameters $1 to $23 of the audience statements for campaign
// c's run at runAt, whose messages are of purpose (the template's category), for every
// contact (withRange sets a launch part's). With due, they carry the due table of every
// zone (the launch; a preview only when the schedule can skip someone); without, an empty
// one.
func (s *Service) audienceArgs(ctx context.Context, q querier, c Campaign, purpose consent.Purpose, runAt time.Time, due bool) ([]any, error) {
	capMax, capSince := 0, runAt.Add(-s.opts.FrequencyCap.Window)
	if purpose == consent.Marketing {
		capMax = s.opts.FrequencyCap.Max // 0: off
	}
	if capMax > 0 {
		runs, err := capRuns(ctx, q, capSince)
		if err != nil {
			return nil, fmt.Errorf("frequency cap: %w", err)
		}
		if runs < capMax {
			capMax = 0 // nobody can be at the cap: see capRuns
		}
	}
	skipPastLocal := c.Schedule.SkipPastLocal && c.Schedule.LocalTime != ""
	table := schedule.DueTable{Zones: []string{}, Due: []time.Time{}, Skip: []bool{}, FallbackDue: runAt}
	if due {
		zones, err := s.zoneNames(ctx)
		if err != nil {
			return nil, fmt.Errorf("time zones: %w", err)
		}
		table = schedule.NewDueTable(runAt, c.Schedule, c.QuietHours, zones)
	}
	dues, fallbackDue := table.DuesOrNil()
	a := c.Audience
	path, vars, err := attributePath(a.Attributes)
	if err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	var pathArg *string
	if path != "" {
		pathArg = &path
	} else {
		vars = json.RawMessage(`{}`)
	}
	within := func(days int) *time.Time {
		if days <= 0 {
			return nil
		}
		t := runAt.AddDate(0, 0, -days)
		return &t
	}
	return []any{
		orEmpty(c.Audience.TagsAny), orEmpty(c.Audience.TagsAll), orEmpty(c.Audience.ExcludeTags),
		s.opts.Channel, purpose,
		capMax, capSince,
		skipPastLocal,
		orEmpty(table.Zones), dues, table.Skip, table.FallbackZone, fallbackDue, table.FallbackSkip,
		pathArg, vars, orEmpty(a.Countries), orEmpty(a.Locales),
		within(a.ConsentWithinDays), within(a.EngagedWithinDays), a.NeverEngaged,
		(*int64)(nil), (*int64)(nil),
	}, nil
}

// withRange returns audience parameters (audienceArgs) for the contacts of r only.
func withRange(args []any, r idRange) []any {
	args = slices.Clone(args)
	args[21], args[22] = r.From, r.To
	return args
}

// orEmpty returns a list, or an empty one for nil: pgx sends a nil slice as NULL, and the
// audience statements take '{}' for "none".
func orEmpty(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

// capRuns counts the marketing runs that may have a message sent since since, or one
// pending: those launching or running, and those that ended since then. A run has at most
// one delivery per contact (UNIQUE (run_id, contact_id)), so no contact can have more
// marketing messages in the window than there are such runs; with fewer runs than the
// cap, nobody is at it, and the audience statements leave the cap's count out (it groups
// every message sent in the window: about a second at a million).
//
// A cancelled run ends at once, while a send already on its way may still be recorded a
// moment later. Such a message can escape this count, not the cap: the claim checks the
// cap again, exactly, before each send (delivery.Sends.ClaimMany).
func capRuns(ctx context.Context, q querier, since time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `
		SELECT count(*) FROM campaign_runs
		WHERE purpose = 'marketing' AND (status IN ('launching', 'running') OR completed_at >= $1)`, since).Scan(&n)
	return n, err
}
