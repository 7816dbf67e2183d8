package whatsappcloud_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
	"github.com/crierhq/crier/templates"
)

// syncBundle is one sync test's world: its own database, a fake Graph API that lists
// templates two to a page, a cloud account on it, and the sync.
type syncBundle struct {
	pool      *pgxpool.Pool
	fake      *cloudtest.Server
	accounts  *sender.Accounts
	templates *templates.Store
	sync      *whatsappcloud.TemplateSync
	account   int64
}

func syncSetup(t *testing.T) *syncBundle {
	t.Helper()
	t.Parallel()
	b := &syncBundle{pool: testdb.New(t), fake: cloudtest.New(t, cloudtest.Options{PageSize: 2})}
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	b.accounts = sender.NewAccountsWithSecrets(b.pool, box)
	engine, err := templates.New(templates.Options{})
	require.NoError(t, err)
	b.templates = templates.NewStore(b.pool, engine)
	b.sync = whatsappcloud.NewTemplateSync(b.pool, b.accounts, b.accounts, b.templates,
		whatsappcloud.SyncOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a, err := b.accounts.Create(context.Background(), sender.AccountInput{Name: "cloud", Channel: sender.WhatsAppCloud,
		Cloud: &sender.CloudConfig{PhoneNumberID: b.fake.PhoneNumberID(), WABAID: b.fake.WABAID(), GraphURL: b.fake.URL,
			AccessToken: b.fake.Token(), AppSecret: "app-secret"}})
	require.NoError(t, err)
	b.account = a.ID
	return b
}

func component(typ, text string) map[string]any { return map[string]any{"type": typ, "text": text} }

func buttons(bs ...map[string]any) map[string]any {
	return map[string]any{"type": "BUTTONS", "buttons": bs}
}

func button(typ, text string) map[string]any { return map[string]any{"type": typ, "text": text} }

// metaTemplates is a WABA with a marketing template in two languages, a utility template
// with named placeholders, an authentication template, and three Crier cannot take.
func metaTemplates() []cloudtest.Template {
	return []cloudtest.Template{
		{ID: "101", Name: "spring_sale", Language: "en_US", Category: "MARKETING", Status: "APPROVED", Components: []map[string]any{
			{"type": "HEADER", "format": "IMAGE", "example": map[string]any{"header_handle": []string{"4::aW1n"}}},
			component("BODY", "Hi {{1}}, take {{2}} off everything!"),
			component("FOOTER", "Not interested? Tap Stop promotions"),
			buttons(button("QUICK_REPLY", "Shop now"), button("QUICK_REPLY", "Stop promotions")),
		}},
		{ID: "102", Name: "spring_sale", Language: "de", Category: "MARKETING", Status: "PENDING", Components: []map[string]any{
			component("BODY", "Hallo {{1}}, {{2}} Rabatt!"),
			component("FOOTER", "Antworten Sie STOP, um sich abzumelden."),
		}},
		{ID: "103", Name: "order_update", Language: "en_US", Category: "UTILITY", Status: "APPROVED", Components: []map[string]any{
			component("BODY", "Hi {{first_name}}, order {{order_id}} has shipped."),
			buttons(map[string]any{"type": "URL", "text": "Track", "url": "https://shop.example.com/track"}),
		}},
		{ID: "104", Name: "login_code", Language: "en_US", Category: "AUTHENTICATION", Status: "APPROVED", Components: []map[string]any{
			component("BODY", "{{1}} is your verification code."),
		}},
		{ID: "105", Name: "no_opt_out", Language: "en", Category: "MARKETING", Status: "APPROVED", Components: []map[string]any{
			component("BODY", "Big sale today!"),
		}},
		{ID: "106", Name: "coupon", Language: "en", Category: "MARKETING", Status: "APPROVED", Components: []map[string]any{
			component("BODY", "Use the code below. Reply STOP to opt out."),
			buttons(map[string]any{"type": "COPY_CODE", "example": "SAVE20"}),
		}},
		{ID: "107", Name: "tracking", Language: "en", Category: "UTILITY", Status: "REJECTED", RejectedReason: "INVALID_FORMAT", Components: []map[string]any{
			component("BODY", "Track it"),
			buttons(map[string]any{"type": "URL", "text": "Track", "url": "https://shop.example.com/t/{{1}}"}),
		}},
	}
}

func (b *syncBundle) template(t *testing.T, name string) templates.Stored {
	t.Helper()
	st, err := b.templates.GetByName(context.Background(), name)
	require.NoError(t, err)
	return st
}

// outcomes maps "name/language" to the outcome and reason.
func outcomes(r whatsappcloud.SyncResult) map[string]string {
	m := map[string]string{}
	for _, s := range r.Templates {
		m[s.Name+"/"+s.Language] = string(s.Outcome) + ": " + s.Reason
	}
	return m
}

func TestSyncCreatesTemplates(t *testing.T) {
	b := syncSetup(t)
	ctx := context.Background()
	b.fake.SetTemplates(metaTemplates())

	res, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, b.fake.WABAID(), res.WABAID)
	require.GreaterOrEqual(t, b.fake.Requests(), 4, "seven templates, two a page")
	require.False(t, b.fake.TokenInQuery())
	got := outcomes(res)
	require.Equal(t, map[string]string{
		"coupon/en":          "skipped: its COPY_CODE button needs parameters Crier does not send yet",
		"login_code/en_US":   "skipped: AUTHENTICATION templates carry one-time codes, not campaign messages",
		"order_update/en_US": "created: ",
		"spring_sale/de":     "created: ",
		"spring_sale/en_US":  "created: ",
		"tracking/en":        "skipped: its URL button has a parameter, which Crier does not send yet",
		"no_opt_out/en":      got["no_opt_out/en"],
	}, got)
	require.Contains(t, got["no_opt_out/en"], "skipped: locales[0].cloud: a marketing template must tell the customer how to opt out")
	for _, s := range res.Templates {
		if s.Name == "spring_sale" && s.Language == "de" {
			require.Equal(t, whatsappcloud.TemplatePending, s.Status, "every status is mapped, and reported")
			require.Equal(t, "de", s.Locale)
		}
	}

	rows, err := b.sync.Templates(ctx, b.account)
	require.NoError(t, err)
	require.Len(t, rows, 7, "every template of Meta's is stored, mapped or not")
	require.Equal(t, "coupon", rows[0].Name)
	require.Equal(t, whatsappcloud.TemplateStatus("REJECTED"), rows[6].Status)
	require.Equal(t, "107", rows[6].MetaID)
	require.Equal(t, "INVALID_FORMAT", rows[6].Reason, "why Meta rejected it")
	require.Empty(t, rows[0].Reason)
	require.Contains(t, string(rows[5].Components), "header_handle", "components are kept as Meta wrote them")

	sale := b.template(t, "spring_sale")
	require.Equal(t, templates.Marketing, sale.Category)
	require.Len(t, sale.Locales, 2)
	require.Equal(t, "de", sale.Locales[0].Locale)
	en := sale.Locales[1]
	require.Equal(t, "en-US", en.Locale)
	require.Equal(t, &templates.CloudTemplate{Name: "spring_sale", Language: "en_US", Body: "Hi {{1}}, take {{2}} off everything!",
		Footer: "Not interested? Tap Stop promotions", OptOutButton: "Stop promotions", HeaderFormat: templates.CloudHeaderImage,
		Params: []string{"", ""}}, en.Cloud)
	require.Equal(t, []templates.Variant{{Body: "Hi {% raw %}{{1}}{% endraw %}, take {% raw %}{{2}}{% endraw %} off everything!", Weight: 1}}, en.Variants)

	order := b.template(t, "order_update")
	require.Equal(t, templates.Utility, order.Category)
	require.Equal(t, []string{"{{ first_name }}", "{{ attributes.order_id }}"}, order.Locales[0].Cloud.Params, "named placeholders are pre-filled")
	require.Equal(t, "Hi {{ first_name }}, order {{ attributes.order_id }} has shipped.", order.Locales[0].Variants[0].Body)

	_, err = b.templates.GetByName(ctx, "login_code")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

func TestSyncKeepsWhatTheMarketerSet(t *testing.T) {
	b := syncSetup(t)
	ctx := context.Background()
	meta := metaTemplates()[:2]
	b.fake.SetTemplates(meta)
	_, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)

	// The marketer maps the parameters and links the image.
	sale := b.template(t, "spring_sale")
	sale.Locales[1].Cloud.Params = []string{"{{ first_name }}", "{{ attributes.discount }}"}
	sale.Locales[1].Cloud.HeaderLink = "https://cdn.example.com/spring.jpg"
	sale.Locales[0].Cloud.Params = []string{"{{ first_name }}", "20 %"}
	sale, err = b.templates.Update(ctx, sale.ID, sale.Template)
	require.NoError(t, err)

	// Meta approves the German one: the row changes, the Crier template does not.
	meta[1].Status = "APPROVED"
	b.fake.SetTemplates(meta)
	res, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"spring_sale/de": "unchanged: ", "spring_sale/en_US": "unchanged: "}, outcomes(res))
	rows, err := b.sync.Templates(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, whatsappcloud.TemplateApproved, rows[0].Status)
	again := b.template(t, "spring_sale")
	require.Equal(t, sale.Version, again.Version, "nothing changed: no new version")
	require.Equal(t, sale.Locales, again.Locales)

	// Meta's English text changes its wording but not its placeholders; the German one
	// gets a third placeholder; a French one appears.
	meta[0].Components[1] = component("BODY", "Hello {{1}}: {{2}} off, today only!")
	meta[1].Components[0] = component("BODY", "Hallo {{1}}, {{2}} Rabatt bis {{3}}!")
	meta = append(meta, cloudtest.Template{ID: "108", Name: "spring_sale", Language: "fr", Category: "MARKETING", Status: "PENDING",
		Components: []map[string]any{component("BODY", "Bonjour {{1}} !"), component("FOOTER", "Répondez STOP pour vous désabonner.")}})
	b.fake.SetTemplates(meta)
	res, err = b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	got := outcomes(res)
	require.Equal(t, "updated: Meta's template changed", got["spring_sale/en_US"])
	require.Equal(t, "updated: Meta's template changed; its placeholders changed, so its parameters must be mapped again", got["spring_sale/de"])
	require.Equal(t, "updated: language added", got["spring_sale/fr"])

	after := b.template(t, "spring_sale")
	require.Equal(t, sale.Version+1, after.Version)
	require.Equal(t, []string{"de", "en-US", "fr"}, []string{after.Locales[0].Locale, after.Locales[1].Locale, after.Locales[2].Locale},
		"known locales keep their place; new ones are added")
	en := after.Locales[1].Cloud
	require.Equal(t, "Hello {{1}}: {{2}} off, today only!", en.Body)
	require.Equal(t, []string{"{{ first_name }}", "{{ attributes.discount }}"}, en.Params, "same placeholders: the mapping is kept")
	require.Equal(t, "https://cdn.example.com/spring.jpg", en.HeaderLink, "same header format: the link is kept")
	require.Equal(t, []string{"", "", ""}, after.Locales[0].Cloud.Params, "new placeholders: mapped again")

	// Meta changes the English header to a video: the image's link no longer fits.
	meta[0].Components[0] = map[string]any{"type": "HEADER", "format": "VIDEO"}
	b.fake.SetTemplates(meta)
	_, err = b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	require.Empty(t, b.template(t, "spring_sale").Locales[1].Cloud.HeaderLink)
}

func TestSyncLeavesTemplatesOfItsOwnAlone(t *testing.T) {
	b := syncSetup(t)
	ctx := context.Background()
	own, err := b.templates.Create(ctx, templates.Template{Name: "spring_sale", Category: templates.Marketing,
		Locales: []templates.Locale{{Locale: "en", Variants: []templates.Variant{{Body: "Our own words", Weight: 1}}}}})
	require.NoError(t, err)
	b.fake.SetTemplates(metaTemplates()[:2])
	res, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	for _, s := range res.Templates {
		require.Equal(t, whatsappcloud.SyncConflict, s.Outcome)
		require.Equal(t, own.ID, s.TemplateID)
		require.Contains(t, s.Reason, "has text of its own")
	}
	after := b.template(t, "spring_sale")
	require.Equal(t, own.Version, after.Version)
	require.Equal(t, own.Locales, after.Locales)

	// A bound template with a locale of its own text: that locale is left alone, the others
	// are synced.
	mixed, err := b.templates.Create(ctx, templates.Template{Name: "order_update", Category: templates.Utility, Locales: []templates.Locale{
		{Locale: "en-US", Variants: []templates.Variant{{Body: "Your order shipped", Weight: 1}}},
		{Locale: "de", Cloud: &templates.CloudTemplate{Name: "order_update", Language: "de", Body: "Versandt"}},
	}})
	require.NoError(t, err)
	meta := metaTemplates()[2:3]
	meta = append(meta, cloudtest.Template{ID: "109", Name: "order_update", Language: "de", Category: "UTILITY", Status: "APPROVED",
		Components: []map[string]any{component("BODY", "Ihre Bestellung ist unterwegs.")}})
	b.fake.SetTemplates(meta)
	res, err = b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	got := outcomes(res)
	require.Contains(t, got["order_update/en_US"], "conflict: locale en-US of Crier template")
	require.Equal(t, "updated: Meta's template changed", got["order_update/de"])
	after = b.template(t, "order_update")
	require.Equal(t, mixed.Locales[0], after.Locales[0])
	require.Equal(t, "Ihre Bestellung ist unterwegs.", after.Locales[1].Cloud.Body)
}

func TestSyncRecategorises(t *testing.T) {
	b := syncSetup(t)
	ctx := context.Background()
	meta := metaTemplates()[2:3]
	b.fake.SetTemplates(meta)
	_, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)

	// Meta moves the utility template to marketing, as it does: it has no opt-out, so the
	// Crier template cannot follow and stays as it was.
	meta[0].Category = "MARKETING"
	b.fake.SetTemplates(meta)
	res, err := b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	require.Contains(t, outcomes(res)["order_update/en_US"], "skipped: locales[0].cloud: a marketing template must tell the customer how to opt out")
	require.Equal(t, templates.Utility, b.template(t, "order_update").Category)

	// With an opt-out footer it follows.
	meta[0].Components = append(meta[0].Components, component("FOOTER", "Reply STOP to opt out"))
	b.fake.SetTemplates(meta)
	res, err = b.sync.Sync(ctx, b.account)
	require.NoError(t, err)
	require.Equal(t, "updated: Meta's template changed; the category changed from utility to marketing", outcomes(res)["order_update/en_US"])
	require.Equal(t, templates.Marketing, b.template(t, "order_update").Category)
}

func TestSyncRefuses(t *testing.T) {
	b := syncSetup(t)
	ctx := context.Background()
	sb, err := b.accounts.Create(ctx, sender.AccountInput{Name: "sandbox", Channel: sender.Sandbox})
	require.NoError(t, err)
	_, err = b.sync.Sync(ctx, sb.ID)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	_, err = b.sync.Templates(ctx, sb.ID)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))
	_, err = b.sync.Sync(ctx, 999_999)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))

	b.fake.SetTemplates(metaTemplates())
	_, err = b.sync.Sync(ctx, b.account)
	require.NoError(t, err)

	// Meta refuses the token: nothing stored changes, and the token is in no error.
	other := cloudtest.New(t, cloudtest.Options{Token: "another-token", WABAID: b.fake.WABAID(), PhoneNumberID: "1000000009"})
	a, err := b.accounts.Create(ctx, sender.AccountInput{Name: "refused", Channel: sender.WhatsAppCloud,
		Cloud: &sender.CloudConfig{PhoneNumberID: "1000000009", WABAID: b.fake.WABAID(), GraphURL: other.URL,
			AccessToken: "secret-token-xyz", AppSecret: "app-secret"}})
	require.NoError(t, err)
	_, err = b.sync.Sync(ctx, a.ID)
	require.Equal(t, apperr.Unavailable, apperr.CodeOf(err))
	require.NotContains(t, err.Error(), "secret-token-xyz")
	rows, err := b.sync.Templates(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, rows, 7, "the WABA's rows are as the last good sync left them")

	results, err := b.sync.SyncAll(ctx)
	require.NoError(t, err, "one account per WABA: the first, whose token works")
	require.Len(t, results, 1)
	require.Equal(t, b.account, results[0].AccountID)
}
