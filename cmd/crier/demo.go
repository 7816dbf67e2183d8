package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/templates"
)

// The demo's names: `crier demo` finds what it made before by them, so it is safe to re-run.
const (
	demoAccount  = "Demo sandbox"
	demoTemplate = "Demo spring sale"
	demoCampaign = "Demo spring sale"
	demoContacts = 200
)

// demoIDs are what `crier demo` made (or found).
type demoIDs struct {
	Account, Template, Campaign int64
	Contacts                    int
}

// cmdDemo seeds a sandbox account, demo contacts with consent, a template and a draft
// campaign, so that a newcomer can preview, schedule and watch a campaign at once. It
// prints the ids as `name=value` lines for scripts.
func cmdDemo(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	svc, err := newServices(ctx, a)
	if err != nil {
		return err
	}
	defer svc.Close()
	ids, err := seedDemo(ctx, a, svc)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "account_id=%d\ntemplate_id=%d\ncampaign_id=%d\ncontacts=%d\n", ids.Account, ids.Template, ids.Campaign, ids.Contacts)
	return nil
}

func seedDemo(ctx context.Context, a *app, svc *services) (demoIDs, error) {
	var ids demoIDs
	var err error
	if ids.Account, err = findID(ctx, a, `SELECT id FROM accounts WHERE lower(name) = lower($1) AND deleted_at IS NULL`, demoAccount); err != nil {
		return ids, err
	}
	if ids.Account == 0 {
		rate := 60 // a message a second: slow enough to watch in the dashboard
		acct, err := svc.accounts.Create(ctx, sender.AccountInput{Name: demoAccount, Channel: sender.Sandbox, RatePerMinute: &rate,
			Sandbox: &sender.SandboxConfig{DeliveredAfterMS: 1000, ReadAfterMS: 5000, ReadRate: 0.6, NotOnWhatsAppSuffixes: []string{"0199"}}})
		if err != nil {
			return ids, fmt.Errorf("demo account: %w", err)
		}
		ids.Account = acct.ID
	}

	// Contacts: importing the same file again changes nothing.
	res, err := svc.contacts.Import(ctx, strings.NewReader(demoCSV()), contacts.ImportOptions{
		ConsentSource: "demo data (crier demo)", Actor: "cli:demo"})
	if err != nil {
		return ids, fmt.Errorf("demo contacts: %w", err)
	}
	ids.Contacts = int(res.Rows)

	if ids.Template, err = findID(ctx, a, `SELECT id FROM templates WHERE lower(name) = lower($1)`, demoTemplate); err != nil {
		return ids, err
	}
	if ids.Template == 0 {
		tpl, err := svc.templates.Create(ctx, templates.Template{Name: demoTemplate, Category: templates.Marketing, Locales: []templates.Locale{
			{Locale: "en", Variants: []templates.Variant{
				{Body: "{Hi|Hello} {{ first_name | default: 'there' }}! Our spring sale starts today: 20% off everything.", Weight: 2},
				{Body: "Hey {{ first_name | default: 'there' }}, {spring is here|it's spring}: 20% off until Sunday.", Weight: 1},
			}},
			{Locale: "es", Variants: []templates.Variant{{Body: "¡Hola {{ first_name | default: '' }}! Rebajas de primavera: 20% en todo.", Weight: 1}}},
		}})
		if err != nil {
			return ids, fmt.Errorf("demo template: %w", err)
		}
		ids.Template = tpl.ID
	}

	// A demo campaign that was scheduled already is left as it is: the walkthrough gets a
	// new draft, so that its commands work on every run.
	if ids.Campaign, err = findID(ctx, a, `SELECT id FROM campaigns WHERE name = $1 AND status = 'draft' ORDER BY id DESC LIMIT 1`, demoCampaign); err != nil {
		return ids, err
	}
	if ids.Campaign == 0 {
		name := demoCampaign
		// No quiet hours, so that the demo sends whatever the time of day where you are;
		// real campaigns default to 21:00–08:00 in each recipient's time zone.
		none := schedule.QuietHours{Start: "00:00", End: "00:00"}
		c, err := svc.campaigns.Create(ctx, campaigns.Input{Name: &name, TemplateID: &ids.Template, AccountIDs: []int64{ids.Account},
			Audience:   &campaigns.Audience{TagsAny: []string{"vip", "newsletter"}, ExcludeTags: []string{"staff"}},
			QuietHours: &none}, "cli:demo")
		if err != nil {
			return ids, fmt.Errorf("demo campaign: %w", err)
		}
		ids.Campaign = c.ID
	}
	return ids, nil
}

func findID(ctx context.Context, a *app, query, name string) (int64, error) {
	var id int64
	err := a.pool.QueryRow(ctx, query, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// demoCSV is about 200 customers in Singapore, Spain and the US: most subscribed, a few
// who said no, some VIPs, some staff (excluded from the campaign), and one number that is
// "not on WhatsApp" (ends in 0199), so that every outcome shows up in the stats.
func demoCSV() string {
	first := []string{"Ada", "Bo", "Chen", "Dewi", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jun", "Kumar", "Lina", "Mateo", "Nur", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tan"}
	last := []string{"Tan", "Lim", "Garcia", "Wong", "Smith", "Rahman", "Lee", "Santos", "Ng", "Ortiz"}
	var b strings.Builder
	b.WriteString("phone,name,locale,timezone,tags,consent\n")
	for i := range demoContacts {
		phone, locale, tz := fmt.Sprintf("+659%07d", 1000100+i), "en", "Asia/Singapore"
		switch i % 10 {
		case 3:
			phone, locale, tz = fmt.Sprintf("+346%08d", 12340000+i), "es", "Europe/Madrid"
		case 7:
			phone, tz = fmt.Sprintf("+1415555%04d", 1000+i), "America/Los_Angeles"
		}
		if i == 42 {
			phone = "+6590000199" // not on WhatsApp in the demo sandbox
		}
		tags := []string{"newsletter"}
		if i%4 == 0 {
			tags = append(tags, "vip")
		}
		if i%25 == 0 {
			tags = append(tags, "staff")
		}
		consent := "yes"
		if i%9 == 0 {
			consent = "no"
		}
		fmt.Fprintf(&b, "%s,%s %s,%s,%s,%s,%s\n", phone, first[i%len(first)], last[(i/len(first))%len(last)], locale, tz, strings.Join(tags, ";"), consent)
	}
	return b.String()
}
