package whatsappcloud

import (
	"context"
	"fmt"
	"net/http"

	"github.com/crierhq/crier/sender"
)

// Secrets opens a whatsapp_cloud account's access token and app secret
// (sender.Accounts.CloudSecrets).
type Secrets interface {
	CloudSecrets(ctx context.Context, id int64) (accessToken, appSecret string, err error)
}

// ConfigOf returns the Client configuration of a whatsapp_cloud account with its access
// token; hc may be nil (the Client's default).
func ConfigOf(a sender.Account, accessToken string, hc *http.Client) (Config, error) {
	if a.Channel != sender.WhatsAppCloud || a.Cloud == nil {
		return Config{}, fmt.Errorf("whatsappcloud: account %d is a %s account, not %s", a.ID, a.Channel, sender.WhatsAppCloud)
	}
	c := a.Cloud
	return Config{GraphURL: c.GraphURL, APIVersion: c.APIVersion, PhoneNumberID: c.PhoneNumberID,
		WABAID: c.WABAID, AccessToken: accessToken, HTTPClient: hc}, nil
}

// ClientFor returns a Client for a stored whatsapp_cloud account, with its secrets opened
// from secrets, and the account's app secret (which signs its webhooks).
func ClientFor(ctx context.Context, secrets Secrets, a sender.Account, hc *http.Client) (*Client, string, error) {
	token, appSecret, err := secrets.CloudSecrets(ctx, a.ID)
	if err != nil {
		return nil, "", err
	}
	cfg, err := ConfigOf(a, token, hc)
	if err != nil {
		return nil, "", err
	}
	c, err := New(cfg)
	if err != nil {
		return nil, "", err
	}
	return c, appSecret, nil
}
