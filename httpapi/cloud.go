package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
)

// CloudWebhooks take the Cloud API's webhooks for an account (whatsappcloud.Webhooks):
// the subscription handshake, and each signed POST, recorded and queued before the
// answer so that Meta is answered fast.
type CloudWebhooks interface {
	Handshake(ctx context.Context, accountID int64, q url.Values) (string, error)
	Receive(ctx context.Context, accountID int64, body []byte, signature string) (int64, error)
}

// CloudTemplates sync a whatsapp_cloud account's message templates from Meta and list
// them as the last sync stored them (whatsappcloud.TemplateSync).
type CloudTemplates interface {
	Sync(ctx context.Context, accountID int64) (whatsappcloud.SyncResult, error)
	Templates(ctx context.Context, accountID int64) ([]whatsappcloud.CloudTemplateRow, error)
}

// cloudAccount returns the whatsapp_cloud account of the path, or why not.
func (s *Server) cloudAccount(r *http.Request) (sender.Account, error) {
	if s.CloudTemplates == nil {
		return sender.Account{}, errStatus(http.StatusNotFound, "not-found", "this server has no Cloud API template sync")
	}
	a, err := s.pathAccount(r)
	if err != nil {
		return a, err
	}
	if a.Channel != sender.WhatsAppCloud {
		return a, apperr.Conflictf("account %d is a %s account: only %s accounts have Meta's templates", a.ID, a.Channel, sender.WhatsAppCloud)
	}
	return a, nil
}

// cloudTemplatesSync pulls the account's templates from Meta now and maps them to Crier
// templates; the answer says what happened to each.
func (s *Server) cloudTemplatesSync(w http.ResponseWriter, r *http.Request) error {
	a, err := s.cloudAccount(r)
	if err != nil {
		return err
	}
	res, err := s.CloudTemplates.Sync(r.Context(), a.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// cloudTemplatesList lists the account's templates as the last sync stored them.
func (s *Server) cloudTemplatesList(w http.ResponseWriter, r *http.Request) error {
	a, err := s.cloudAccount(r)
	if err != nil {
		return err
	}
	rows, err := s.CloudTemplates.Templates(r.Context(), a.ID)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []whatsappcloud.CloudTemplateRow{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": rows})
}

// cloudHandshake answers Meta's subscription check: GET with hub.mode=subscribe, the
// account's verify token and a challenge, which goes back as the plain-text body.
func (s *Server) cloudHandshake(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	if s.CloudWebhooks == nil {
		return errStatus(http.StatusNotFound, "not-found", "this server takes no Cloud API webhooks")
	}
	challenge, err := s.CloudWebhooks.Handshake(r.Context(), id, r.URL.Query())
	switch {
	case errors.Is(err, whatsappcloud.ErrHandshakeToken):
		return errStatus(http.StatusForbidden, "forbidden", "hub.verify_token does not match the account's verify token")
	case errors.Is(err, whatsappcloud.ErrHandshakeMode), errors.Is(err, whatsappcloud.ErrHandshakeChallenge):
		return errStatus(http.StatusBadRequest, "malformed", err.Error())
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, challenge)
	return err
}

// cloudWebhook takes one signed POST of the Cloud API's events. It needs no API key: the
// signature (X-Hub-Signature-256, the app secret's HMAC of the raw body) proves that
// Meta sent it, and nothing unsigned or wrongly signed is stored. The events are
// processed by a worker (task cloud:webhook); Meta gets its 200 once they are recorded.
func (s *Server) cloudWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	if s.CloudWebhooks == nil {
		return errStatus(http.StatusNotFound, "not-found", "this server takes no Cloud API webhooks")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, whatsappcloud.MaxWebhookBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errStatus(http.StatusRequestEntityTooLarge, "too-large", whatsappcloud.ErrWebhookTooLarge.Error())
		}
		return errStatus(http.StatusBadRequest, "malformed", "the body could not be read")
	}
	_, err = s.CloudWebhooks.Receive(r.Context(), id, body, r.Header.Get(whatsappcloud.SignatureHeader))
	switch {
	case errors.Is(err, whatsappcloud.ErrSignatureMissing), errors.Is(err, whatsappcloud.ErrSignatureMalformed),
		errors.Is(err, whatsappcloud.ErrSignatureMismatch):
		return errStatus(http.StatusUnauthorized, "bad-signature", err.Error())
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
