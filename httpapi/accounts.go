package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// Pairer links accounts to phones: the Connector, in Deps.Channels, of a channel whose
// accounts are paired (sender.Capabilities.Pairs), such as WhatsApp's.
type Pairer interface {
	PairQR(ctx context.Context, a sender.Account) (*sender.Pairing, error)
	PairPhone(ctx context.Context, a sender.Account, phone string) (*sender.Pairing, error)
}

type accountRequest struct {
	Name          string                `json:"name"`
	Channel       string                `json:"channel"`
	RatePerMinute *int                  `json:"rate_per_minute"`
	DailyCap      *int                  `json:"daily_cap"`
	Warmup        *bool                 `json:"warmup"`
	Pacing        *bool                 `json:"pacing"`
	ProxyURL      string                `json:"proxy_url"`
	Sandbox       *sender.SandboxConfig `json:"sandbox"`
	Cloud         *cloudRequest         `json:"cloud"`
}

// cloudRequest is a whatsapp_cloud account's configuration as the API takes it: the
// secrets are write-only, so they are here and not in sender.CloudConfig's JSON.
type cloudRequest struct {
	PhoneNumberID string `json:"phone_number_id"`
	WABAID        string `json:"waba_id"`
	AccessToken   string `json:"access_token"`
	AppSecret     string `json:"app_secret"`
	VerifyToken   string `json:"verify_token"`
	GraphURL      string `json:"graph_url"`
	APIVersion    string `json:"api_version"`
}

// config returns the request as the store takes it; nil stays nil.
func (c *cloudRequest) config() *sender.CloudConfig {
	if c == nil {
		return nil
	}
	return &sender.CloudConfig{PhoneNumberID: c.PhoneNumberID, WABAID: c.WABAID, AccessToken: c.AccessToken,
		AppSecret: c.AppSecret, VerifyToken: c.VerifyToken, GraphURL: c.GraphURL, APIVersion: c.APIVersion}
}

type usageJSON struct {
	Day        string    `json:"day"`
	SentToday  int       `json:"sent_today"`
	DailyLimit *int      `json:"daily_limit"` // null: no daily limit
	Remaining  *int      `json:"remaining"`
	Warmup     bool      `json:"warmup"` // today's limit is the warm-up's, below the cap
	ResetsAt   time.Time `json:"resets_at"`
}

type accountJSON struct {
	ID              int64                 `json:"id"`
	Name            string                `json:"name"`
	Channel         sender.Channel        `json:"channel"`
	Status          sender.Status         `json:"status"`
	StatusReason    string                `json:"status_reason,omitempty"`
	ConnectionState sender.Status         `json:"connection_status"` // the connection's own state, also when paused
	Phone           string                `json:"phone,omitempty"`   // the business's own number, once paired
	RatePerMinute   int                   `json:"rate_per_minute"`
	DailyCap        int                   `json:"daily_cap"` // 0: none
	Warmup          bool                  `json:"warmup"`
	WarmupStartedOn *string               `json:"warmup_started_on"`
	Pacing          bool                  `json:"pacing"`
	ProxyURL        string                `json:"proxy_url,omitempty"` // the password is never shown
	Sandbox         *sender.SandboxConfig `json:"sandbox,omitempty"`
	Cloud           *sender.CloudConfig   `json:"cloud,omitempty"` // the secrets only as access_token_set, app_secret_set
	Usage           *usageJSON            `json:"usage,omitempty"` // today's budget, from the limiter
	CreatedAt       time.Time             `json:"created_at"`
	UpdatedAt       time.Time             `json:"updated_at"`
}

func (s *Server) accountOut(ctx context.Context, a sender.Account) accountJSON {
	status, reason := a.ShownStatus()
	out := accountJSON{
		ID: a.ID, Name: a.Name, Channel: a.Channel, Status: status, StatusReason: reason, ConnectionState: a.Status,
		Phone: a.Phone, RatePerMinute: a.RatePerMinute, DailyCap: a.DailyCap, Warmup: a.Warmup, Pacing: a.Pacing,
		ProxyURL: sender.RedactProxyURL(a.ProxyURL), Sandbox: a.Sandbox, Cloud: a.Cloud, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
	if !a.WarmupStart.IsZero() {
		d := a.WarmupStart.Format(time.DateOnly)
		out.WarmupStartedOn = &d
	}
	if s.Limiter != nil {
		// Usage is a convenience: an account is still shown when Redis is down.
		if u, err := s.Limiter.Usage(ctx, a.ID, a.Limits()); err == nil {
			out.Usage = &usageJSON{Day: u.Day, SentToday: u.Used, Warmup: u.Warmup, ResetsAt: u.ResetsAt.UTC()}
			if u.DailyLimit >= 0 {
				out.Usage.DailyLimit, out.Usage.Remaining = &u.DailyLimit, &u.Remaining
			}
		} else {
			s.Logger.WarnContext(ctx, "account usage unavailable", "account_id", a.ID, "err", err)
		}
	}
	return out
}

func (s *Server) accountCreate(w http.ResponseWriter, r *http.Request) error {
	var req accountRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := CreateAccount(r.Context(), s.Accounts, s.Channels, sender.AccountInput{
		Name: req.Name, Channel: sender.Channel(req.Channel), RatePerMinute: req.RatePerMinute, DailyCap: req.DailyCap,
		Warmup: req.Warmup, Pacing: req.Pacing, ProxyURL: req.ProxyURL, Sandbox: req.Sandbox, Cloud: req.Cloud.config(),
	})
	if err != nil {
		return err
	}
	setTarget(r, "account", a.ID)
	w.Header().Set("Location", fmt.Sprintf("/v1/accounts/%d", a.ID))
	return writeJSON(w, http.StatusCreated, s.accountOut(r.Context(), a))
}

// CreateAccount creates an account, first checking its credentials with the network
// where the channel's Connector can (sender.CredentialChecker: the Cloud API's token), so
// that an account that could never send is refused with the network's reason. The API
// and `crier accounts add` both create accounts here.
func CreateAccount(ctx context.Context, store *sender.Accounts, channels sender.Channels, in sender.AccountInput) (sender.Account, error) {
	if err := store.Check(&in); err != nil {
		return sender.Account{}, err
	}
	if chk, ok := channels[in.Channel].(sender.CredentialChecker); ok {
		if err := chk.CheckCredentials(ctx, in); err != nil {
			return sender.Account{}, err
		}
	}
	return store.Create(ctx, in)
}

func (s *Server) accountList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	list, next, err := s.Accounts.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]accountJSON, len(list))
	for i, a := range list {
		out[i] = s.accountOut(r.Context(), a)
	}
	return writeJSON(w, http.StatusOK, listResponse[accountJSON]{Data: out, NextCursor: cursor(next)})
}

func (s *Server) accountGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.accountOut(r.Context(), a))
}

func (s *Server) pathAccount(r *http.Request) (sender.Account, error) {
	id, err := pathID(r, "account")
	if err != nil {
		return sender.Account{}, err
	}
	return s.Accounts.Get(r.Context(), id)
}

func (s *Server) accountDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	if err := s.Accounts.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type pauseRequest struct {
	Reason string `json:"reason" validate:"max=200"`
}

func (s *Server) accountPause(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	var req pauseRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.Reason == "" {
		req.Reason = "paused by " + caller(r).Name
	}
	a, err := s.Accounts.Pause(r.Context(), id, req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.accountOut(r.Context(), a))
}

func (s *Server) accountResume(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	a, err := s.Accounts.Resume(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.accountOut(r.Context(), a))
}

type pairRequest struct {
	// Phone, the account's own number in E.164, asks for a pairing code to type on the
	// phone instead of a QR code.
	Phone string `json:"phone"`
}

type pairJSON struct {
	AccountID int64  `json:"account_id"`
	Method    string `json:"method"` // qr or phone
	// Code is the QR code's text (draw it, e.g. `crier accounts pair ID` does) or the
	// pairing code to type in WhatsApp → Linked devices → Link with phone number.
	Code string `json:"code"`
	// ExpiresInSeconds is how long the pairing waits for the phone before it gives up.
	ExpiresInSeconds int `json:"expires_in_seconds,omitempty"`
}

// accountPair starts linking an account to a phone, for the channels whose accounts are
// paired (WhatsApp's). The pairing goes on in the background; when the phone links it,
// the account becomes disconnected (paired) and the worker holding its lease connects it.
func (s *Server) accountPair(w http.ResponseWriter, r *http.Request) error {
	a, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	var req pairRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	pairer, err := s.pairer(a)
	if err != nil {
		return err
	}
	var p *sender.Pairing
	method := "qr"
	if req.Phone != "" {
		method = "phone"
		p, err = pairer.PairPhone(r.Context(), a, req.Phone)
	} else {
		p, err = pairer.PairQR(r.Context(), a)
	}
	switch {
	case errors.Is(err, sender.ErrAlreadyPaired):
		return &apperr.Error{Code: apperr.Conflict, Message: fmt.Sprintf("account %d is already paired (status %s)", a.ID, a.Status), Err: err}
	case err != nil && method == "phone" && errors.Is(err, sender.ErrInvalidPhone):
		return apperr.Field("phone", "%s", err)
	case err != nil:
		return &apperr.Error{Code: apperr.Unavailable, Message: err.Error(), Err: err}
	}
	go s.recordPairing(a.ID, p)
	setTarget(r, "account", a.ID)
	addDetail(r, "method", method)
	out := pairJSON{AccountID: a.ID, Method: method, Code: p.Code}
	if p.Timeout > 0 {
		out.ExpiresInSeconds = int(p.Timeout / time.Second)
	}
	return writeJSON(w, http.StatusOK, out)
}

// pairer returns the Pairer of the account's channel: a conflict when the channel's
// accounts are not paired, unavailable when this process has no transport that pairs.
func (s *Server) pairer(a sender.Account) (Pairer, error) {
	if caps, _ := s.Channels.Capabilities(a.Channel); !caps.Pairs() {
		if paired := s.Channels.Where(sender.Capabilities.Pairs); len(paired) > 0 {
			return nil, apperr.Newf(apperr.Conflict, "account %d is a %s account: only %s accounts are paired", a.ID, a.Channel, sender.ChannelNames(paired))
		}
	}
	p, ok := s.Channels[a.Channel].(Pairer)
	if !ok {
		return nil, apperr.Newf(apperr.Unavailable, "pairing is not available in this process")
	}
	return p, nil
}

// recordPairing waits for a pairing to end and records a success on the account.
func (s *Server) recordPairing(accountID int64, p *sender.Pairing) {
	<-p.Done()
	res := p.Result()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res.Kind != sender.PairSuccess {
		s.Logger.WarnContext(ctx, "pairing ended without a phone", "account_id", accountID, "kind", res.Kind, "err", res.Err)
		return
	}
	if err := s.Accounts.SetPaired(ctx, accountID, res.Phone); err != nil {
		s.Logger.ErrorContext(ctx, "record pairing", "account_id", accountID, "err", err)
		return
	}
	s.Logger.InfoContext(ctx, "account paired", "account_id", accountID)
}
