package sender

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/crierhq/crier/internal/apperr"
)

// The Cloud API defaults: Meta's Graph endpoint and the API version Crier is tested with
// (the same as sender/whatsappcloud's).
const (
	DefaultCloudGraphURL   = "https://graph.facebook.com"
	DefaultCloudAPIVersion = "v21.0"
)

// CloudConfig is a whatsapp_cloud account's Cloud API configuration. AccessToken and
// AppSecret are write-only: the store seals them on Create and an Account read back
// never carries them, only AccessTokenSet and AppSecretSet; Accounts.CloudSecrets opens
// them for the channel's Connector.
type CloudConfig struct {
	PhoneNumberID string `json:"phone_number_id"` // the sending number's id in Meta's Graph API
	WABAID        string `json:"waba_id"`         // the WhatsApp Business Account that owns it
	GraphURL      string `json:"graph_url"`       // default DefaultCloudGraphURL
	APIVersion    string `json:"api_version"`     // "v21.0"; default DefaultCloudAPIVersion
	// VerifyToken is what Meta echoes when it subscribes the webhook; it proves nothing
	// about a request later, so it is shown (the app secret's signature does that).
	VerifyToken string `json:"verify_token"`

	AccessToken string `json:"-"` // input only: the system user's token
	AppSecret   string `json:"-"` // input only: the app secret that signs webhooks

	AccessTokenSet bool `json:"access_token_set"` // output only: a token is stored
	AppSecretSet   bool `json:"app_secret_set"`   // output only: an app secret is stored
}

// String shows the configuration with its secrets hidden, so that a %v in a log or an
// error cannot leak them.
func (c CloudConfig) String() string {
	return fmt.Sprintf("CloudConfig{PhoneNumberID:%s WABAID:%s GraphURL:%s APIVersion:%s AccessToken:[redacted] AppSecret:[redacted]}",
		c.PhoneNumberID, c.WABAID, c.GraphURL, c.APIVersion)
}

var apiVersionRE = regexp.MustCompile(`^v[1-9][0-9]{0,2}\.[0-9]{1,2}$`)

// normalize trims the input, applies the defaults, and says what is wrong, field by field
// under "cloud.".
func (c *CloudConfig) normalize() []apperr.FieldError {
	var errs []apperr.FieldError
	bad := func(field, msg string) {
		errs = append(errs, apperr.FieldError{Field: "cloud." + field, Message: msg})
	}
	for _, f := range []*string{&c.PhoneNumberID, &c.WABAID, &c.GraphURL, &c.APIVersion, &c.VerifyToken, &c.AccessToken, &c.AppSecret} {
		*f = strings.TrimSpace(*f)
	}
	c.AccessTokenSet, c.AppSecretSet = false, false
	if c.GraphURL == "" {
		c.GraphURL = DefaultCloudGraphURL
	}
	c.GraphURL = strings.TrimRight(c.GraphURL, "/")
	if c.APIVersion == "" {
		c.APIVersion = DefaultCloudAPIVersion
	}
	if c.VerifyToken == "" {
		// Meta asks for a verify token when the webhook is subscribed: make one that
		// nobody has to invent, shown with the account.
		c.VerifyToken = rand.Text()
	}

	if !isDigits(c.PhoneNumberID, 32) {
		bad("phone_number_id", "is required: the phone number ID that Meta shows (digits)")
	}
	if !isDigits(c.WABAID, 32) {
		bad("waba_id", "is required: the WhatsApp Business Account ID that Meta shows (digits)")
	}
	if err := checkGraphURL(c.GraphURL); err != "" {
		bad("graph_url", err)
	}
	if !apiVersionRE.MatchString(c.APIVersion) {
		bad("api_version", "must be a Graph API version such as "+DefaultCloudAPIVersion)
	}
	if len(c.VerifyToken) > 200 || strings.ContainsFunc(c.VerifyToken, isSpaceOrControl) {
		bad("verify_token", "must be at most 200 characters, without spaces")
	}
	if c.AccessToken == "" || len(c.AccessToken) > 4096 || strings.ContainsFunc(c.AccessToken, isSpaceOrControl) {
		bad("access_token", "is required: the system user's access token, without spaces")
	}
	if c.AppSecret == "" || len(c.AppSecret) > 256 || strings.ContainsFunc(c.AppSecret, isSpaceOrControl) {
		bad("app_secret", "is required: the Meta app's secret, without spaces")
	}
	return errs
}

func isDigits(s string, max int) bool {
	return s != "" && len(s) <= max && strings.Trim(s, "0123456789") == ""
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// checkGraphURL allows https, and plain http only to this machine (a fake Graph API in
// tests), so that a token is never sent in the clear.
func checkGraphURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "must be a URL such as " + DefaultCloudGraphURL
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return ""
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return ""
		}
		return "must use https (http only to localhost, for tests)"
	default:
		return "must use https"
	}
}
