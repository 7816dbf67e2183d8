package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/campaigns/schedule"
	"github.com/crierhq/crier/sender"
)

// The console's campaign pages: the list, the wizard that writes a campaign, and the live
// page of one. They read; the wizard's create, update, preview and schedule, and the live
// page's pause, resume and cancel, are the API's (console/static/wizard.js, campaign.js,
// console.js). The live page renders no counts: its script polls GET
// /v1/campaigns/{id}/stats and /timeline, since counting a million deliveries is no
// page render's business.

// wizardChoiceLimit bounds each list of choices the wizard embeds.
const wizardChoiceLimit = 200

// campaignRow is one line of the campaign list.
type campaignRow struct {
	ID        int64
	Name      string
	Status    campaigns.Status
	Badge     string // the badge's class
	Schedule  string
	CreatedAt any
}

// campaignsPage is one page of campaigns in id order (keyset: Next is the cursor of the
// following page, "" at the end; Later says this is not the first page).
type campaignsPage struct {
	Campaigns []campaignRow
	Status    string
	Statuses  []campaigns.Status
	Next      string
	Later     bool
}

var campaignStatuses = []campaigns.Status{campaigns.StatusDraft, campaigns.StatusScheduled, campaigns.StatusRunning,
	campaigns.StatusPaused, campaigns.StatusCompleted, campaigns.StatusCancelled}

// campaignBadge is the badge class of a campaign status.
func campaignBadge(st campaigns.Status) string {
	switch st {
	case campaigns.StatusRunning, campaigns.StatusCompleted:
		return "ok"
	case campaigns.StatusPaused:
		return "warn"
	case campaigns.StatusCancelled:
		return "bad"
	case campaigns.StatusScheduled:
		return "info"
	}
	return ""
}

// campaignScheduleText says when a campaign sends, in words.
func campaignScheduleText(sc schedule.Schedule) string {
	var s string
	switch sc.Type {
	case schedule.Now:
		s = "now"
	case schedule.At:
		s = "at " + sc.At
	case schedule.Cron:
		s = "cron " + sc.Cron
	default:
		s = string(sc.Type)
	}
	if sc.Timezone != "" {
		s += " (" + sc.Timezone + ")"
	}
	if sc.LocalTime != "" {
		s += ", at " + sc.LocalTime + " recipient-local"
	}
	return s
}

func (s *Server) campaignsReady() error {
	if s.Campaigns == nil {
		return errStatus(http.StatusNotFound, "not-found", "campaigns are not served by this process")
	}
	return nil
}

func (s *Server) pageCampaigns(w http.ResponseWriter, r *http.Request) error {
	if err := s.campaignsReady(); err != nil {
		return err
	}
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	list, next, err := s.Campaigns.List(r.Context(), campaigns.ListParams{Status: campaigns.Status(status), AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	p := campaignsPage{Status: status, Statuses: campaignStatuses, Later: after > 0}
	for _, c := range list {
		p.Campaigns = append(p.Campaigns, campaignRow{ID: c.ID, Name: c.Name, Status: c.Status, Badge: campaignBadge(c.Status),
			Schedule: campaignScheduleText(c.Schedule), CreatedAt: c.CreatedAt})
	}
	if nc := cursor(next); nc != nil {
		p.Next = *nc
	}
	return s.render(w, r, "campaigns", "Campaigns", p)
}

// wizardTemplate is a template as the wizard offers it: its variants shown by locale.
type wizardTemplate struct {
	ID       int64          `json:"id"`
	Name     string         `json:"name"`
	Category string         `json:"category"`
	Locales  []wizardLocale `json:"locales"`
}

type wizardLocale struct {
	Locale   string   `json:"locale"`
	Variants []string `json:"variants"`
	Footer   string   `json:"footer"`
}

type wizardChoice struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Note string `json:"note,omitempty"`
}

// wizardData is what wizard.js gets: the choices (each list bounded by
// wizardChoiceLimit, the first in id order), the API's rotation and schedule values, and
// the deployment's default quiet hours (CRIER_QUIET_HOURS, as the service applies it: the
// wizard sends the fields it pre-fills, so a pre-fill other than the server's default
// would silently override it).
type wizardData struct {
	Segments   []wizardChoice      `json:"segments"`
	Templates  []wizardTemplate    `json:"templates"`
	Accounts   []wizardChoice      `json:"accounts"`
	Rotations  []sender.Rotation   `json:"rotations"`
	Schedules  []schedule.Type     `json:"schedules"`
	QuietHours schedule.QuietHours `json:"quiet_hours"`
	More       bool                `json:"more"` // a list was cut at the limit
}

// campaignNewPage is the wizard: its data for the page (server-rendered choices) and for
// its script.
type campaignNewPage struct {
	Wizard wizardData
}

func (s *Server) pageCampaignNew(w http.ResponseWriter, r *http.Request) error {
	if err := s.campaignsReady(); err != nil {
		return err
	}
	ctx := r.Context()
	d := wizardData{Segments: []wizardChoice{}, Templates: []wizardTemplate{}, Accounts: []wizardChoice{},
		Rotations: []sender.Rotation{sender.RoundRobin, sender.Sticky},
		Schedules: []schedule.Type{schedule.Now, schedule.At, schedule.Cron}, QuietHours: s.Campaigns.DefaultQuietHours()}
	segs, next, err := s.Campaigns.ListSegments(ctx, campaigns.SegmentListParams{Limit: wizardChoiceLimit})
	if err != nil {
		return err
	}
	d.More = d.More || next != 0
	for _, sg := range segs {
		d.Segments = append(d.Segments, wizardChoice{ID: sg.ID, Name: sg.Name, Note: sg.Description})
	}
	tpls, next, err := s.Templates.List(ctx, 0, wizardChoiceLimit)
	if err != nil {
		return err
	}
	d.More = d.More || next != 0
	for _, t := range tpls {
		wt := wizardTemplate{ID: t.ID, Name: t.Name, Category: string(t.Category), Locales: []wizardLocale{}}
		for _, l := range t.Locales {
			wl := wizardLocale{Locale: l.Locale, Footer: l.Footer, Variants: []string{}}
			for _, v := range l.Variants {
				wl.Variants = append(wl.Variants, v.Body)
			}
			wt.Locales = append(wt.Locales, wl)
		}
		d.Templates = append(d.Templates, wt)
	}
	accs, next, err := s.Accounts.List(ctx, 0, wizardChoiceLimit)
	if err != nil {
		return err
	}
	d.More = d.More || next != 0
	for _, a := range accs {
		status, _ := a.ShownStatus()
		d.Accounts = append(d.Accounts, wizardChoice{ID: a.ID, Name: a.Name, Note: fmt.Sprintf("%s, %s", a.Channel, status)})
	}
	return s.render(w, r, "campaign_new", "New campaign", campaignNewPage{Wizard: d})
}

// campaignPage is the live page of a campaign: what it is, rendered; its counts are
// fetched by campaign.js. Live is the JSON for the script: the id, the status, and the
// names of the accounts and template for the tables. Controls says which of pause, resume
// and cancel the status allows (the script updates them as the status changes).
type campaignPage struct {
	Campaign     campaignJSON
	Badge        string
	Schedule     string
	TemplateName string
	Accounts     []wizardChoice
	Final        bool
	Controls     campaignControls
	Live         campaignLive
}

type campaignLive struct {
	ID       int64             `json:"id"`
	Status   campaigns.Status  `json:"status"`
	Final    bool              `json:"final"`
	Accounts map[string]string `json:"accounts"` // id → name
}

// campaignControls are the transitions a campaign's status allows, as the API's state
// machine does (campaigns/lifecycle.go): a button for any other would only earn a 409.
// campaign.js keeps the same rule for the status it polls.
type campaignControls struct {
	Pause, Resume, Cancel bool
}

func controlsFor(st campaigns.Status) campaignControls {
	return campaignControls{
		Pause:  st == campaigns.StatusScheduled || st == campaigns.StatusRunning,
		Resume: st == campaigns.StatusPaused,
		Cancel: st == campaigns.StatusDraft || st == campaigns.StatusScheduled || st == campaigns.StatusRunning || st == campaigns.StatusPaused,
	}
}

// campaignFinal says whether a campaign is done sending. Its page keeps polling, more
// slowly: read receipts, replies and opt-outs still arrive after the last send.
func campaignFinal(st campaigns.Status) bool {
	return st == campaigns.StatusCompleted || st == campaigns.StatusCancelled
}

func (s *Server) pageCampaign(w http.ResponseWriter, r *http.Request) error {
	if err := s.campaignsReady(); err != nil {
		return err
	}
	id, err := pathID(r, "campaign")
	if err != nil {
		return err
	}
	ctx := r.Context()
	c, err := s.Campaigns.Get(ctx, id)
	if err != nil {
		return err
	}
	p := campaignPage{Campaign: campaignOut(c), Badge: campaignBadge(c.Status), Schedule: campaignScheduleText(c.Schedule),
		Final: campaignFinal(c.Status), Controls: controlsFor(c.Status), TemplateName: "template " + strconv.FormatInt(c.TemplateID, 10)}
	p.Live = campaignLive{ID: c.ID, Status: c.Status, Final: p.Final, Accounts: map[string]string{}}
	if t, err := s.Templates.Get(ctx, c.TemplateID); err == nil {
		p.TemplateName = t.Name
	}
	// One read of the accounts (at most wizardChoiceLimit), not one per account.
	names := map[int64]string{}
	accs, _, err := s.Accounts.List(ctx, 0, wizardChoiceLimit)
	if err != nil {
		return err
	}
	for _, a := range accs {
		names[a.ID] = a.Name
	}
	for _, aid := range c.AccountIDs {
		name, ok := names[aid]
		if !ok {
			name = "account " + strconv.FormatInt(aid, 10)
		}
		p.Accounts = append(p.Accounts, wizardChoice{ID: aid, Name: name})
		p.Live.Accounts[strconv.FormatInt(aid, 10)] = name
	}
	return s.render(w, r, "campaign", c.Name, p)
}
