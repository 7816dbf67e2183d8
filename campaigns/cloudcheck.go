package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/templates"
)

// Meta's Cloud API sends marketing outside the 24-hour customer service window only as a
// template it approved in advance. A campaign with a whatsapp_cloud account is therefore
// scheduled (or resumed) only when every locale of its template is bound to one of Meta's
// templates (templates.CloudTemplate) that is APPROVED, in the template's category, on the
// WhatsApp Business Account of each of its cloud accounts, as the template sync last found
// it (cloud_templates), and has every parameter mapped and its header's link set. Anything
// else would fail at the first send, for every recipient.

// cloudTemplateCheck pairs each WhatsApp Business Account of the campaign's live cloud
// accounts with each locale of its template, and Meta's template of that locale's binding
// on that WABA, when the sync found one. No cloud account: no rows.
const cloudTemplateCheck = `
	SELECT a.waba_id, a.account_ids, t.category, l.locale, ct.status, ct.category
	FROM (
		SELECT waba_id, array_agg(id ORDER BY id) AS account_ids FROM accounts
		WHERE id = ANY($2) AND channel = 'whatsapp_cloud' AND deleted_at IS NULL
		GROUP BY waba_id
	) a
	CROSS JOIN templates t
	CROSS JOIN LATERAL jsonb_array_elements(t.locales) WITH ORDINALITY AS l (locale, ord)
	LEFT JOIN cloud_templates ct ON ct.waba_id = a.waba_id
		AND ct.name = l.locale->'cloud'->>'name' AND ct.language = l.locale->'cloud'->>'language'
	WHERE t.id = $1
	ORDER BY l.ord, a.waba_id`

// cloudPair is one row of cloudTemplateCheck.
type cloudPair struct {
	wabaID     string
	accountIDs []int64
	category   templates.Category
	locale     templates.Locale
	status     *string // Meta's, nil when the sync found no such template on the WABA
	metaCat    *string
}

// checkCloudTemplates returns an Invalid error naming every locale of template templateID
// that the campaign's cloud accounts cannot send (see above), or nil.
func (s *Service) checkCloudTemplates(ctx context.Context, q querier, templateID int64, accountIDs []int64) error {
	rows, err := q.Query(ctx, cloudTemplateCheck, templateID, accountIDs)
	if err != nil {
		return fmt.Errorf("campaigns: check cloud templates: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cloudPair, error) {
		var p cloudPair
		var locale []byte
		if err := r.Scan(&p.wabaID, &p.accountIDs, &p.category, &locale, &p.status, &p.metaCat); err != nil {
			return p, err
		}
		return p, json.Unmarshal(locale, &p.locale)
	})
	if err != nil {
		return fmt.Errorf("campaigns: check cloud templates: %w", err)
	}

	// A locale approved on some of the campaign's WABAs and not on another is that
	// account's problem (account_ids); one approved on none, the template's (template_id).
	approvedSomewhere := map[string]bool{}
	var cloudAccounts []int64
	for _, p := range pairs {
		if p.problem() == "" {
			approvedSomewhere[p.locale.Locale] = true
		}
		for _, id := range p.accountIDs {
			if !slices.Contains(cloudAccounts, id) {
				cloudAccounts = append(cloudAccounts, id)
			}
		}
	}
	slices.Sort(cloudAccounts)
	var errs []apperr.FieldError
	seen := map[string]bool{}
	fail := func(field, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if !seen[msg] {
			seen[msg] = true
			errs = append(errs, apperr.FieldError{Field: field, Message: msg})
		}
	}
	for _, p := range pairs {
		l, c := p.locale, p.locale.Cloud
		if c == nil {
			fail("template_id", "locale %s: has no Cloud API template; %s the WhatsApp Cloud API, which takes marketing only as a template Meta approved: bind the locale to one (run the template sync)",
				l.Locale, accountsUse(cloudAccounts))
			continue
		}
		for _, u := range c.Unfilled() {
			fail("template_id", "locale %s: %q (%s): %s", l.Locale, c.Name, c.Language, u)
		}
		if problem := p.problem(); problem != "" {
			field := "template_id"
			if approvedSomewhere[l.Locale] {
				field = "account_ids"
			}
			fail(field, "locale %s: no APPROVED %s template %q (%s) on WhatsApp Business Account %s: %s",
				l.Locale, strings.ToUpper(string(p.category)), c.Name, c.Language, p.wabaID, problem)
		}
	}
	return apperr.Fields(errs...)
}

// problem says why Meta's template does not fit the locale's binding on this WABA, or "".
func (p cloudPair) problem() string {
	want := strings.ToUpper(string(p.category))
	switch {
	case p.locale.Cloud == nil:
		return "no binding"
	case p.status == nil:
		return "Meta has none of that name and language; create it at Meta, or run the template sync"
	case *p.status != "APPROVED":
		return fmt.Sprintf("it is %s; run the template sync once Meta has approved it", *p.status)
	case *p.metaCat != want:
		return fmt.Sprintf("it is approved as %s", *p.metaCat)
	}
	return ""
}

// accountsUse is "account 3 uses" or "accounts 3, 4 use".
func accountsUse(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	if len(ids) == 1 {
		return "account " + parts[0] + " uses"
	}
	return "accounts " + strings.Join(parts, ", ") + " use"
}
