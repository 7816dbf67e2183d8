package whatsappcloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// The template sync pulls a WhatsApp Business Account's message templates from Meta
// (Client.Templates), keeps them as Meta describes them in cloud_templates (which the
// campaigns' schedule check reads), and maps them onto Crier templates: one per Meta name,
// one locale per language, each bound to Meta's template (templates.CloudTemplate). It
// writes Crier templates only through templates.Store, so that everything it saves passes
// the same validation as a template written by hand.

// SyncOptions configure a TemplateSync. Zero values get the defaults.
type SyncOptions struct {
	HTTPClient *http.Client // for the Graph API; nil: the Client's default
	Logger     *slog.Logger
}

// syncAccounts reads the account to sync (sender.Accounts).
type syncAccounts interface {
	Get(ctx context.Context, id int64) (sender.Account, error)
}

// TemplateSync syncs the Cloud API accounts' message templates. It is safe for concurrent
// use; syncs of any accounts, in any process, run one at a time.
type TemplateSync struct {
	pool     *pgxpool.Pool
	accounts syncAccounts
	secrets  Secrets
	store    *templates.Store
	opts     SyncOptions
}

// NewTemplateSync returns a TemplateSync that reads accounts and their secrets, keeps
// Meta's templates in pool's cloud_templates and maps them into store.
func NewTemplateSync(pool *pgxpool.Pool, accounts interface {
	Get(ctx context.Context, id int64) (sender.Account, error)
}, secrets Secrets, store *templates.Store, opts SyncOptions) *TemplateSync {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &TemplateSync{pool: pool, accounts: accounts, secrets: secrets, store: store, opts: opts}
}

// SyncOutcome is what a sync did with one of Meta's templates (one name in one language).
type SyncOutcome string

// The outcomes.
const (
	SyncCreated   SyncOutcome = "created"   // a new Crier template has this language
	SyncUpdated   SyncOutcome = "updated"   // the language was added to, or changed in, the Crier template
	SyncUnchanged SyncOutcome = "unchanged" // the Crier template already says what Meta says
	SyncConflict  SyncOutcome = "conflict"  // a Crier template or locale of the name has text of its own: left alone
	SyncSkipped   SyncOutcome = "skipped"   // not mapped; Reason says why
)

// SyncedTemplate is one of Meta's templates and what the sync did with it.
type SyncedTemplate struct {
	Name       string           `json:"name"`
	Language   string           `json:"language"` // Meta's code
	Category   TemplateCategory `json:"category"`
	Status     TemplateStatus   `json:"status"`
	Outcome    SyncOutcome      `json:"outcome"`
	Reason     string           `json:"reason,omitempty"`
	TemplateID int64            `json:"template_id,omitempty"` // the Crier template, when there is one
	Locale     string           `json:"locale,omitempty"`      // the Crier locale (BCP 47), when mapped
}

// SyncResult is what one sync found and did, per template of Meta's, ordered by name and
// language.
type SyncResult struct {
	AccountID int64            `json:"account_id"`
	WABAID    string           `json:"waba_id"`
	SyncedAt  time.Time        `json:"synced_at"`
	Templates []SyncedTemplate `json:"templates"`
}

// CloudTemplateRow is one of a business account's templates as the last sync stored it.
type CloudTemplateRow struct {
	WABAID     string           `json:"waba_id"`
	Name       string           `json:"name"`
	Language   string           `json:"language"`
	MetaID     string           `json:"meta_id"`
	Category   TemplateCategory `json:"category"`
	Status     TemplateStatus   `json:"status"`
	Reason     string           `json:"reason"`
	Components json.RawMessage  `json:"components"`
	SyncedAt   time.Time        `json:"synced_at"`
}

// syncLockKey names the advisory lock that runs syncs one at a time across processes: two
// syncs mapping the same name at once would both try to create its template.
const syncLockKey = "crier.whatsappcloud.template_sync"

// Sync pulls the templates of the account's WhatsApp Business Account from Meta, replaces
// the account's WABA's rows of cloud_templates with them in one transaction, and maps them
// onto Crier templates:
//
//   - a name that no Crier template has becomes a new template, with a locale per language;
//   - a Crier template of the name with Cloud API bindings is updated: a new language is
//     added; a known one gets Meta's text, keeping the marketer's Params where the body's
//     placeholders did not change and the HeaderLink where the header's format did not;
//     the category follows Meta's;
//   - a Crier template of the name without bindings, or a locale of it with text of its
//     own, is never touched (a conflict);
//   - AUTHENTICATION templates (one-time codes), languages Crier cannot map and templates
//     with components it cannot send yet are skipped, with the reason.
//
// Every status is mapped (the schedule check refuses what is not APPROVED) and reported.
// Errors: NotFound for the account; Conflict when it is not a whatsapp_cloud account;
// Unavailable when Meta does not answer the list. A failure after the rows were replaced
// returns the result so far with the error.
func (s *TemplateSync) Sync(ctx context.Context, accountID int64) (SyncResult, error) {
	a, err := s.accounts.Get(ctx, accountID)
	if err != nil {
		return SyncResult{}, err
	}
	if a.Channel != sender.WhatsAppCloud || a.Cloud == nil {
		return SyncResult{}, apperr.Conflictf("account %d is a %s account: only %s accounts have Meta message templates", a.ID, a.Channel, sender.WhatsAppCloud)
	}
	client, _, err := ClientFor(ctx, s.secrets, a, s.opts.HTTPClient)
	if err != nil {
		return SyncResult{}, fmt.Errorf("whatsappcloud: sync templates of account %d: %w", a.ID, err)
	}
	// Meta is asked before any connection is taken: a slow answer holds none.
	list, err := client.Templates(ctx)
	if err != nil {
		return SyncResult{}, &apperr.Error{Code: apperr.Unavailable, Err: err,
			Message: fmt.Sprintf("Meta did not list the templates of WhatsApp Business Account %s: %v", a.Cloud.WABAID, err)}
	}
	list = uniqueTemplates(list)

	res := SyncResult{AccountID: a.ID, WABAID: a.Cloud.WABAID, Templates: []SyncedTemplate{}}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("whatsappcloud: sync templates: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, syncLockKey); err != nil {
		return res, fmt.Errorf("whatsappcloud: sync templates: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, syncLockKey); err != nil {
			conn.Conn().Close(context.Background()) // a session lock ends with its connection
		}
	}()

	if res.SyncedAt, err = replaceRows(ctx, conn.Conn(), a.Cloud.WABAID, list); err != nil {
		return res, fmt.Errorf("whatsappcloud: sync templates of WABA %s: %w", a.Cloud.WABAID, err)
	}
	for start := 0; start < len(list); {
		end := start + 1
		for end < len(list) && list[end].Name == list[start].Name {
			end++
		}
		synced, err := s.mapName(ctx, list[start:end])
		res.Templates = append(res.Templates, synced...)
		if err != nil {
			return res, fmt.Errorf("whatsappcloud: sync template %q: %w", list[start].Name, err)
		}
		start = end
	}
	s.log(ctx, res)
	return res, nil
}

// SyncAll syncs every live whatsapp_cloud account's business account once (several numbers
// of one WABA share its templates): the periodic job. An account that fails does not stop
// the others; the errors are joined.
func (s *TemplateSync) SyncAll(ctx context.Context) ([]SyncResult, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (waba_id) id FROM accounts
		WHERE channel = 'whatsapp_cloud' AND deleted_at IS NULL
		ORDER BY waba_id, id`)
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: sync all templates: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: sync all templates: %w", err)
	}
	var results []SyncResult
	var errs []error
	for _, id := range ids {
		r, err := s.Sync(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("account %d: %w", id, err))
			continue
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// Templates lists the stored templates of the account's WhatsApp Business Account, as the
// last sync found them, by name and language. Errors: NotFound; Conflict when it is not a
// whatsapp_cloud account.
func (s *TemplateSync) Templates(ctx context.Context, accountID int64) ([]CloudTemplateRow, error) {
	a, err := s.accounts.Get(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if a.Channel != sender.WhatsAppCloud || a.Cloud == nil {
		return nil, apperr.Conflictf("account %d is a %s account: only %s accounts have Meta message templates", a.ID, a.Channel, sender.WhatsAppCloud)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT waba_id, name, language, meta_id, category, status, reason, components, synced_at
		FROM cloud_templates WHERE waba_id = $1
		ORDER BY name, language`, a.Cloud.WABAID)
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: templates of account %d: %w", a.ID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CloudTemplateRow, error) {
		var t CloudTemplateRow
		err := r.Scan(&t.WABAID, &t.Name, &t.Language, &t.MetaID, &t.Category, &t.Status, &t.Reason, &t.Components, &t.SyncedAt)
		t.SyncedAt = t.SyncedAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("whatsappcloud: templates of account %d: %w", a.ID, err)
	}
	return list, nil
}

// uniqueTemplates sorts Meta's list by name and language and keeps the first of each pair:
// (name, language) is a template's key at Meta, and cloud_templates' primary key.
func uniqueTemplates(list []MessageTemplate) []MessageTemplate {
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(x, y MessageTemplate) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Language, y.Language))
	})
	return slices.CompactFunc(list, func(x, y MessageTemplate) bool { return x.Name == y.Name && x.Language == y.Language })
}

// replaceRows replaces the WABA's rows of cloud_templates with list, in one transaction,
// and returns the sync's time as the database has it.
func replaceRows(ctx context.Context, conn *pgx.Conn, wabaID string, list []MessageTemplate) (time.Time, error) {
	n := len(list)
	names, languages, ids := make([]string, n), make([]string, n), make([]string, n)
	categories, statuses, components := make([]string, n), make([]string, n), make([]string, n)
	reasons := make([]string, n)
	for i, t := range list {
		names[i], languages[i], ids[i] = t.Name, t.Language, t.ID
		if t.RejectedReason != "NONE" {
			reasons[i] = t.RejectedReason
		}
		categories[i], statuses[i] = string(t.Category), string(t.Status)
		c, err := componentsJSON(t.Components)
		if err != nil {
			return time.Time{}, err
		}
		components[i] = c
	}
	var at time.Time
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM cloud_templates WHERE waba_id = $1`, wabaID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO cloud_templates (waba_id, name, language, meta_id, category, status, components, reason, synced_at)
			SELECT $1, t.name, t.language, t.meta_id, t.category, t.status, t.components::jsonb, t.reason, $9
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
				AS t (name, language, meta_id, category, status, components, reason)`,
			wabaID, names, languages, ids, categories, statuses, components, reasons, at)
		return err
	})
	return at.UTC(), err
}

// componentsJSON is a template's components as Meta wrote them.
func componentsJSON(cs []TemplateComponents) (string, error) {
	parts := make([]json.RawMessage, len(cs))
	for i, c := range cs {
		parts[i] = c.Raw
		if len(c.Raw) == 0 {
			raw, err := json.Marshal(struct {
				Type   string `json:"type"`
				Format string `json:"format,omitempty"`
				Text   string `json:"text,omitempty"`
			}{c.Type, c.Format, c.Text})
			if err != nil {
				return "", err
			}
			parts[i] = raw
		}
	}
	b, err := json.Marshal(parts)
	return string(b), err
}

// candidate is one of Meta's templates on its way into a Crier template.
type candidate struct {
	report *SyncedTemplate
	locale string
	cloud  templates.CloudTemplate
}

// mapName maps the languages of one Meta name (sorted by language) onto the Crier
// template of that name.
func (s *TemplateSync) mapName(ctx context.Context, group []MessageTemplate) ([]SyncedTemplate, error) {
	out := make([]SyncedTemplate, len(group))
	name := group[0].Name
	var category templates.Category
	var metaCategory TemplateCategory
	var cands []candidate
	for i, t := range group {
		out[i] = SyncedTemplate{Name: t.Name, Language: t.Language, Category: t.Category, Status: t.Status}
		r := &out[i]
		skip := func(format string, args ...any) { r.Outcome, r.Reason = SyncSkipped, fmt.Sprintf(format, args...) }
		c, ok := crierCategory(t.Category)
		switch {
		case t.Category == CategoryAuthentication:
			skip("AUTHENTICATION templates carry one-time codes, not campaign messages")
			continue
		case !ok:
			skip("category %q is not one Crier sends (MARKETING or UTILITY)", t.Category)
			continue
		case category == "":
			category, metaCategory = c, t.Category
		case c != category:
			skip("its category %s differs from %s of the name's other languages; a Crier template has one category", t.Category, metaCategory)
			continue
		}
		locale, err := templates.CanonicalLocale(strings.ReplaceAll(t.Language, "_", "-"))
		if err != nil {
			skip("Meta's language %q is not one Crier knows", t.Language)
			continue
		}
		cloud, reason := s.binding(t)
		if reason != "" {
			skip("%s", reason)
			continue
		}
		r.Locale = locale
		cands = append(cands, candidate{report: r, locale: locale, cloud: cloud})
	}
	if len(cands) == 0 {
		return out, nil
	}

	existing, err := s.store.GetByName(ctx, name)
	isNew := apperr.CodeOf(err) == apperr.NotFound
	if err != nil && !isNew {
		return out, err
	}
	if !isNew && !slices.ContainsFunc(existing.Locales, func(l templates.Locale) bool { return l.Cloud != nil }) {
		for _, c := range cands {
			c.report.Outcome, c.report.TemplateID = SyncConflict, existing.ID
			c.report.Reason = fmt.Sprintf("Crier template %d is called %q and has text of its own, not Meta's templates: rename one of them", existing.ID, existing.Name)
		}
		return out, nil
	}

	next := templates.Template{Name: name, Category: category}
	if !isNew {
		next = existing.Template
		next.Locales = slices.Clone(existing.Locales)
	}
	recategorised := !isNew && existing.Category != category
	next.Category = category
	var changed []candidate
	for _, c := range cands {
		i := slices.IndexFunc(next.Locales, func(l templates.Locale) bool { return l.Locale == c.locale })
		var old *templates.CloudTemplate
		if i >= 0 {
			old = next.Locales[i].Cloud
			if old == nil {
				c.report.Outcome, c.report.TemplateID = SyncConflict, existing.ID
				c.report.Reason = fmt.Sprintf("locale %s of Crier template %d has text of its own, not Meta's template", c.locale, existing.ID)
				continue
			}
			if old.Language != c.cloud.Language {
				c.report.Outcome, c.report.TemplateID = SyncConflict, existing.ID
				c.report.Reason = fmt.Sprintf("locale %s of Crier template %d is already Meta's %s", c.locale, existing.ID, old.Language)
				continue
			}
		}
		merged := merge(old, c.cloud)
		// Checked alone, so that one language Crier cannot take does not hold back the
		// others.
		if _, err := s.store.Engine().Normalize(ctx, templates.Template{Name: name, Category: category,
			Locales: []templates.Locale{{Locale: c.locale, Cloud: &merged}}}); err != nil {
			if apperr.CodeOf(err) != apperr.Invalid {
				return out, err
			}
			c.report.Outcome, c.report.Reason = SyncSkipped, fieldMessages(err)
			continue
		}
		switch {
		case i < 0:
			next.Locales = append(next.Locales, templates.Locale{Locale: c.locale, Cloud: &merged})
			c.report.Outcome = SyncUpdated
			c.report.Reason = "language added"
		case reflect.DeepEqual(*old, merged):
			c.report.Outcome = SyncUnchanged
			if recategorised {
				c.report.Outcome = SyncUpdated
			}
		default:
			next.Locales[i].Cloud = &merged
			c.report.Outcome = SyncUpdated
			c.report.Reason = "Meta's template changed"
			if !reflect.DeepEqual(old.Params, merged.Params) {
				c.report.Reason += "; its placeholders changed, so its parameters must be mapped again"
			}
		}
		if isNew {
			c.report.Outcome, c.report.Reason = SyncCreated, ""
		}
		if recategorised {
			c.report.Reason = strings.TrimPrefix(c.report.Reason+fmt.Sprintf("; the category changed from %s to %s", existing.Category, category), "; ")
		}
		changed = append(changed, c)
	}
	if len(changed) == 0 || (!recategorised && !slices.ContainsFunc(changed, func(c candidate) bool { return c.report.Outcome != SyncUnchanged })) {
		for _, c := range changed {
			c.report.TemplateID = existing.ID
		}
		return out, nil
	}

	var st templates.Stored
	if isNew {
		st, err = s.store.Create(ctx, next)
	} else {
		st, err = s.store.Update(ctx, existing.ID, next)
	}
	if err != nil {
		if code := apperr.CodeOf(err); code != apperr.Invalid && code != apperr.Conflict {
			return out, err
		}
		// The template as a whole is refused (a recategorised template whose other
		// locales have no opt-out): report it and leave the template as it was.
		for _, c := range changed {
			c.report.Outcome, c.report.Reason = SyncSkipped, "the Crier template would not be valid: "+fieldMessages(err)
		}
		return out, nil
	}
	for _, c := range changed {
		c.report.TemplateID = st.ID
	}
	return out, nil
}

// crierCategory maps Meta's category onto Crier's.
func crierCategory(c TemplateCategory) (templates.Category, bool) {
	switch c {
	case CategoryMarketing:
		return templates.Marketing, true
	case CategoryUtility:
		return templates.Utility, true
	}
	return "", false
}

// fieldMessages is an apperr error's field reasons in one line.
func fieldMessages(err error) string {
	fields := apperr.FieldsOf(err)
	if len(fields) == 0 {
		return err.Error()
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// metaButton is one button of a BUTTONS component.
type metaButton struct {
	Type string `json:"type"`
	Text string `json:"text"`
	URL  string `json:"url"`
}

// binding reads the binding of one of Meta's templates from its components, or says why
// Crier cannot send it yet: a component or button that needs parameters Crier does not
// send (a TEXT header with a variable, a URL button with one, a coupon code, a carousel).
func (s *TemplateSync) binding(t MessageTemplate) (templates.CloudTemplate, string) {
	c := templates.CloudTemplate{Name: t.Name, Language: t.Language}
	var quickReplies []string
	for _, comp := range t.Components {
		switch strings.ToUpper(comp.Type) {
		case "HEADER":
			format := templates.CloudHeader(strings.ToUpper(comp.Format))
			switch {
			case format == templates.CloudHeaderText:
				if strings.Contains(comp.Text, "{{") {
					return c, "its TEXT header has a parameter, which Crier does not send yet"
				}
				c.HeaderText = comp.Text
			case !format.Media():
				return c, fmt.Sprintf("its %s header is not one Crier sends (TEXT, IMAGE, VIDEO or DOCUMENT)", comp.Format)
			}
			c.HeaderFormat = format
		case "BODY":
			c.Body = comp.Text
		case "FOOTER":
			c.Footer = comp.Text
		case "BUTTONS":
			var b struct {
				Buttons []metaButton `json:"buttons"`
			}
			if err := json.Unmarshal(comp.Raw, &b); err != nil && len(comp.Raw) > 0 {
				return c, "its buttons could not be read"
			}
			for _, btn := range b.Buttons {
				switch strings.ToUpper(btn.Type) {
				case "QUICK_REPLY":
					quickReplies = append(quickReplies, btn.Text)
				case "PHONE_NUMBER":
				case "URL":
					if strings.Contains(btn.URL, "{{") {
						return c, "its URL button has a parameter, which Crier does not send yet"
					}
				default:
					return c, fmt.Sprintf("its %s button needs parameters Crier does not send yet", btn.Type)
				}
			}
		default:
			return c, fmt.Sprintf("its %s component is not one Crier sends yet", comp.Type)
		}
	}
	c.OptOutButton = s.store.Engine().OptOutButton(quickReplies)
	names, err := templates.CloudPlaceholders(c.Body)
	if err != nil {
		return c, "its body " + err.Error()
	}
	c.Params = make([]string, len(names))
	if len(names) > 0 && !isNumber(names[0]) {
		for i, n := range names {
			c.Params[i] = prefill(n)
		}
	}
	return c, ""
}

// contactFields are the Liquid variables a named placeholder of the same name means.
var contactFields = []string{"name", "first_name", "email", "locale", "country", "timezone"}

// prefill is the Liquid a named placeholder starts with: the contact's field of that
// name, else the attribute.
func prefill(name string) string {
	if slices.Contains(contactFields, name) {
		return "{{ " + name + " }}"
	}
	return "{{ attributes." + name + " }}"
}

func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// merge returns Meta's fresh binding with what the marketer set on the old one kept: the
// Params while the body has the same placeholders, the HeaderLink while the header has the
// same format. The result is tidied as Normalize stores it, so that it compares equal to an
// unchanged stored binding.
func merge(old *templates.CloudTemplate, fresh templates.CloudTemplate) templates.CloudTemplate {
	if old != nil {
		was, _ := templates.CloudPlaceholders(old.Body)
		now, _ := templates.CloudPlaceholders(fresh.Body)
		if slices.Equal(was, now) {
			fresh.Params = slices.Clone(old.Params)
		}
		if old.HeaderFormat == fresh.HeaderFormat {
			fresh.HeaderLink = old.HeaderLink
		}
	}
	fresh.Footer = strings.TrimSpace(fresh.Footer)
	fresh.OptOutButton = strings.TrimSpace(fresh.OptOutButton)
	fresh.HeaderText = strings.TrimSpace(fresh.HeaderText)
	if fresh.Params == nil {
		fresh.Params = []string{}
	}
	return fresh
}

func (s *TemplateSync) log(ctx context.Context, r SyncResult) {
	counts := map[SyncOutcome]int{}
	for _, t := range r.Templates {
		counts[t.Outcome]++
	}
	s.opts.Logger.InfoContext(ctx, "template sync", "account_id", r.AccountID, "waba_id", r.WABAID,
		"templates", len(r.Templates), "created", counts[SyncCreated], "updated", counts[SyncUpdated],
		"unchanged", counts[SyncUnchanged], "conflicts", counts[SyncConflict], "skipped", counts[SyncSkipped])
}
