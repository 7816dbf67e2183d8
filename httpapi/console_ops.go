package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"rsc.io/qr"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// The ops pages: the sending accounts, adding one (sandbox, WhatsApp through whatsmeow,
// or Meta's Cloud API), one account's settings, and linking a WhatsApp account to its
// phone from the browser (console/static/pair.js draws each QR code with qrSVG). Like
// every page they only read: each change is a call of the accounts API.

// accountsPageSize is how many accounts a page of /accounts lists. Each row asks Redis
// for today's usage, as GET /v1/accounts does, so the page stays small.
const accountsPageSize = 50

// accountRow is an account as the API shows it (accountJSON, so that a page shows
// exactly what GET /v1/accounts/{id} does: proxy passwords and Cloud API secrets
// hidden), with what the page draws from it.
type accountRow struct {
	accountJSON
	Badge   string // the status badge's class: ok, info, warn, bad
	Healthy bool   // may send now: not paused, and connected
	Paused  bool
	// TodayLimit is today's daily limit (the cap, or the warm-up's lower one), -1 when
	// there is none or the limiter did not answer.
	TodayLimit int
	// LeaseHolder is the worker process that holds the account's connection lease: ""
	// when no worker has it (nothing sends from it).
	LeaseHolder string
}

func (s *Server) accountRow(r *http.Request, a sender.Account) accountRow {
	row := accountRow{accountJSON: s.accountOut(r.Context(), a), Badge: statusBadge(a), Healthy: a.Health(),
		Paused: a.PausedAt != nil, TodayLimit: -1}
	if row.Usage != nil && row.Usage.DailyLimit != nil {
		row.TodayLimit = *row.Usage.DailyLimit
	}
	return row
}

// statusBadge colours an account's status: green when it sends, red when the network
// banned it, amber when a person must act (paused, unlinked from the phone).
func statusBadge(a sender.Account) string {
	status, _ := a.ShownStatus()
	switch status {
	case sender.StatusConnected:
		return "ok"
	case sender.StatusBanned:
		return "bad"
	case sender.StatusPaused, sender.StatusLoggedOut:
		return "warn"
	}
	return "info"
}

type accountsView struct {
	Rows  []accountRow
	Next  string // the next page's cursor; "" on the last page
	Paged bool   // this is not the first page
}

// pageAccounts lists the sending accounts with their health and today's budget.
func (s *Server) pageAccounts(w http.ResponseWriter, r *http.Request) error {
	_, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Accounts.List(r.Context(), after, accountsPageSize)
	if err != nil {
		return err
	}
	v := accountsView{Rows: make([]accountRow, len(list)), Paged: after > 0}
	for i, a := range list {
		v.Rows[i] = s.accountRow(r, a)
	}
	s.fillLeaseHolders(r, v.Rows)
	if c := cursor(next); c != nil {
		v.Next = *c
	}
	return s.render(w, r, "accounts", "Accounts", v)
}

// fillLeaseHolders names the worker holding each account's connection lease, in one Redis
// round trip. Redis being down leaves the column empty rather than failing the page.
func (s *Server) fillLeaseHolders(r *http.Request, rows []accountRow) {
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	holders, err := sender.LeaseHolders(r.Context(), s.Redis, ids)
	if err != nil {
		s.Logger.WarnContext(r.Context(), "lease holders", "error", err, "request_id", requestState(r).id)
		return
	}
	for i := range rows {
		rows[i].LeaseHolder = holders[rows[i].ID]
	}
}

// cloudWebhookPath is where Meta sends a whatsapp_cloud account's webhooks (routes.go).
func cloudWebhookPath(id string) string {
	return "/v1/channels/whatsapp_cloud/" + id + "/webhook"
}

// origin is this server's address as the browser reached it, for the URLs a person
// copies into another system (Meta's webhook settings).
func (s *Server) origin(r *http.Request) string {
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type accountNewView struct {
	WebhookURL string // the Cloud API callback URL, with {id} for the account's id
}

// pageAccountNew shows the forms that create an account, one per channel.
func (s *Server) pageAccountNew(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "account_new", "Add an account", accountNewView{WebhookURL: s.origin(r) + cloudWebhookPath("{id}")})
}

type accountView struct {
	accountRow
	// Pairs: the account is linked to a phone by pairing (WhatsApp's), and is not linked
	// now, so the page offers a QR code and a phone code.
	Pairs      bool
	Paired     bool   // a pairing channel's account that is linked to its phone
	WebhookURL string // a Cloud API account's callback URL, to set at Meta
}

// pageAccount shows one account: its state, its settings, and for a WhatsApp account
// not yet linked, the pairing.
func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	v := accountView{accountRow: s.accountRow(r, a)}
	rows := []accountRow{v.accountRow}
	s.fillLeaseHolders(r, rows)
	v.accountRow = rows[0]
	caps, ok := s.Channels.Capabilities(a.Channel)
	if (ok && caps.Pairs()) || (!ok && a.Channel == sender.WhatsApp) {
		unlinked := a.Status == sender.StatusPendingPair || a.Status == sender.StatusLoggedOut
		v.Pairs, v.Paired = unlinked, !unlinked
	}
	if a.Channel == sender.WhatsAppCloud {
		v.WebhookURL = s.origin(r) + cloudWebhookPath(fmt.Sprint(a.ID))
	}
	return s.render(w, r, "account", a.Name, v)
}

// maxQRData bounds what qrSVG draws: a WhatsApp pairing text is about 200 characters.
const maxQRData = 1 << 10

// qrSVG draws ?data= as a QR code in SVG, for pair.js to show a pairing's code as an
// <img>: the code never leaves Crier for a QR service. It is a page route (accounts:write)
// rather than a static file because only the people who pair should draw codes.
func (s *Server) qrSVG(w http.ResponseWriter, r *http.Request) error {
	data := r.URL.Query().Get("data")
	switch {
	case data == "":
		return apperr.Field("data", "is required: the text to draw as a QR code")
	case len(data) > maxQRData:
		return apperr.Field("data", "is longer than %d bytes", maxQRData)
	}
	code, err := qr.Encode(data, qr.M)
	if err != nil {
		return apperr.Field("data", "cannot be drawn as a QR code: %s", err)
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(qrSVGMarkup(code)))
	return err
}

// qrQuiet is the light border around a QR code, in modules, that scanners need.
const qrQuiet = 4

// qrSVGMarkup writes the code as one path of unit squares, one per dark module, on a
// white square with the quiet zone around it. Adjacent modules of a row are merged into
// one rectangle, which keeps the path short.
func qrSVGMarkup(c *qr.Code) string {
	var p strings.Builder
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; {
			if !c.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < c.Size && c.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&p, "M%d %dh%dv1h-%dz", x+qrQuiet, y+qrQuiet, run, run)
			x += run
		}
	}
	side := c.Size + 2*qrQuiet
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		side, side, side*8, side*8, side, side, p.String())
}
