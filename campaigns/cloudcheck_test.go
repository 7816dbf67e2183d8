package campaigns_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// cloudAccount creates a whatsapp_cloud account of the given WhatsApp Business Account.
func (b *testBundle) cloudAccount(t *testing.T, phoneNumberID, wabaID string) int64 {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{5}, secretbox.KeySize))
	require.NoError(t, err)
	a, err := sender.NewAccountsWithSecrets(b.pool, box).Create(context.Background(), sender.AccountInput{
		Name: "cloud " + phoneNumberID, Channel: sender.WhatsAppCloud, Cloud: &sender.CloudConfig{
			PhoneNumberID: phoneNumberID, WABAID: wabaID, AccessToken: "token", AppSecret: "secret"}})
	require.NoError(t, err)
	return a.ID
}

// metaTemplate stores a row of cloud_templates as the template sync would.
func (b *testBundle) metaTemplate(t *testing.T, wabaID, name, language, category, status string) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), `
		INSERT INTO cloud_templates (waba_id, name, language, category, status) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (waba_id, name, language) DO UPDATE SET category = excluded.category, status = excluded.status`,
		wabaID, name, language, category, status)
	require.NoError(t, err)
}

// cloudSale is a marketing template bound to Meta's spring_sale in English and German.
func cloudSale() templates.Template {
	bind := func(language, body string) *templates.CloudTemplate {
		return &templates.CloudTemplate{Name: "spring_sale", Language: language, Body: body,
			OptOutButton: "Stop promotions", Params: []string{"{{ first_name }}"}}
	}
	return templates.Template{Name: "spring_sale", Category: templates.Marketing, Locales: []templates.Locale{
		{Locale: "en-US", Cloud: bind("en_US", "Hi {{1}}, spring is here!")},
		{Locale: "de", Cloud: bind("de", "Hallo {{1}}, der Frühling ist da!")},
	}}
}

func TestScheduleNeedsApprovedCloudTemplates(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const waba, waba2 = "2000000002", "2000000003"
	cloud := b.cloudAccount(t, "1000000001", waba)
	tpl, err := b.templates.Create(ctx, cloudSale())
	require.NoError(t, err)
	c := b.create(t, func(in *campaigns.Input) { in.TemplateID, in.AccountIDs = &tpl.ID, []int64{b.account, cloud} })

	schedule := func() []apperr.FieldError {
		t.Helper()
		err := b.svc.Schedule(ctx, c.ID)
		if err == nil {
			return nil
		}
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
		got, gerr := b.svc.Get(ctx, c.ID)
		require.NoError(t, gerr)
		require.Equal(t, campaigns.StatusDraft, got.Status, "a refused schedule changes nothing")
		return apperr.FieldsOf(err)
	}

	require.Equal(t, []apperr.FieldError{
		{Field: "template_id", Message: `locale en-US: no APPROVED MARKETING template "spring_sale" (en_US) on WhatsApp Business Account 2000000002: Meta has none of that name and language; create it at Meta, or run the template sync`},
		{Field: "template_id", Message: `locale de: no APPROVED MARKETING template "spring_sale" (de) on WhatsApp Business Account 2000000002: Meta has none of that name and language; create it at Meta, or run the template sync`},
	}, schedule(), "the sync has found nothing yet")

	b.metaTemplate(t, waba, "spring_sale", "en_US", "MARKETING", "APPROVED")
	b.metaTemplate(t, waba, "spring_sale", "de", "MARKETING", "PENDING")
	require.Equal(t, []apperr.FieldError{
		{Field: "template_id", Message: `locale de: no APPROVED MARKETING template "spring_sale" (de) on WhatsApp Business Account 2000000002: it is PENDING; run the template sync once Meta has approved it`},
	}, schedule())

	b.metaTemplate(t, waba, "spring_sale", "de", "UTILITY", "APPROVED")
	require.Equal(t, []apperr.FieldError{
		{Field: "template_id", Message: `locale de: no APPROVED MARKETING template "spring_sale" (de) on WhatsApp Business Account 2000000002: it is approved as UTILITY`},
	}, schedule())

	// A second cloud account on another WABA where only English is approved: the German
	// locale is that account's problem; English is fine on both.
	b.metaTemplate(t, waba, "spring_sale", "de", "MARKETING", "APPROVED")
	cloud2 := b.cloudAccount(t, "1000000009", waba2)
	b.metaTemplate(t, waba2, "spring_sale", "en_US", "MARKETING", "APPROVED")
	_, err = b.svc.Update(ctx, c.ID, campaigns.Input{AccountIDs: []int64{cloud, cloud2}})
	require.NoError(t, err)
	require.Equal(t, []apperr.FieldError{
		{Field: "account_ids", Message: `locale de: no APPROVED MARKETING template "spring_sale" (de) on WhatsApp Business Account 2000000003: Meta has none of that name and language; create it at Meta, or run the template sync`},
	}, schedule())
	b.metaTemplate(t, waba2, "spring_sale", "de", "MARKETING", "APPROVED")

	// A parameter not mapped and an image without its link.
	tpl.Locales[1].Cloud.Body = "Hallo {{1}}, {{2}} Rabatt!"
	tpl.Locales[1].Cloud.HeaderFormat = templates.CloudHeaderImage
	tpl, err = b.templates.Update(ctx, tpl.ID, tpl.Template)
	require.NoError(t, err)
	require.Equal(t, []apperr.FieldError{
		{Field: "template_id", Message: `locale de: "spring_sale" (de): parameter {{2}} is not mapped to a value`},
		{Field: "template_id", Message: `locale de: "spring_sale" (de): the IMAGE header has no link`},
	}, schedule())
	tpl.Locales[1].Cloud.Params = []string{"{{ first_name }}", "20 %"}
	tpl.Locales[1].Cloud.HeaderLink = "https://cdn.example.com/spring.jpg"
	tpl, err = b.templates.Update(ctx, tpl.ID, tpl.Template)
	require.NoError(t, err)

	// A locale of free text cannot go through the Cloud API at all.
	tpl.Locales = append(tpl.Locales, templates.Locale{Locale: "fr", Variants: []templates.Variant{{Body: "Bonjour !", Weight: 1}}})
	tpl, err = b.templates.Update(ctx, tpl.ID, tpl.Template)
	require.NoError(t, err)
	fields := schedule()
	require.Len(t, fields, 1)
	require.Equal(t, "template_id", fields[0].Field)
	require.Contains(t, fields[0].Message, "locale fr: has no Cloud API template; accounts ")
	tpl.Locales = tpl.Locales[:2]
	_, err = b.templates.Update(ctx, tpl.ID, tpl.Template)
	require.NoError(t, err)

	require.Nil(t, schedule(), "approved everywhere, everything mapped")

	// Meta pauses the template and the workers pause the campaign: it resumes only once the
	// sync finds the template approved again.
	require.NoError(t, b.svc.Pause(ctx, c.ID, "the network refused the template"))
	b.metaTemplate(t, waba2, "spring_sale", "de", "MARKETING", "PAUSED")
	err = b.svc.Resume(ctx, c.ID)
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	require.ErrorContains(t, err, "it is PAUSED")
	b.metaTemplate(t, waba2, "spring_sale", "de", "MARKETING", "APPROVED")
	require.NoError(t, b.svc.Resume(ctx, c.ID))
}

func TestScheduleWithoutCloudAccountsIgnoresBindings(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	tpl, err := b.templates.Create(ctx, cloudSale())
	require.NoError(t, err)
	c := b.create(t, func(in *campaigns.Input) { in.TemplateID = &tpl.ID })
	require.NoError(t, b.svc.Schedule(ctx, c.ID), "a sandbox account sends the derived text; Meta is not asked")

	// A utility template on a cloud account needs a UTILITY template at Meta.
	cloud := b.cloudAccount(t, "1000000001", "2000000002")
	util := cloudSale()
	util.Name, util.Category = "spring_note", templates.Utility
	util.Locales = util.Locales[:1]
	ut, err := b.templates.Create(ctx, util)
	require.NoError(t, err)
	b.metaTemplate(t, "2000000002", "spring_sale", "en_US", "UTILITY", "APPROVED")
	c2 := b.create(t, func(in *campaigns.Input) { in.TemplateID, in.AccountIDs = &ut.ID, []int64{cloud} })
	require.NoError(t, b.svc.Schedule(ctx, c2.ID))
}
