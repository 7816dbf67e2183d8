package whatsappcloud_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/sender"
	"github.com/crierhq/crier/sender/whatsappcloud"
	"github.com/crierhq/crier/sender/whatsappcloud/cloudtest"
)

const customer = "+4915112345678"

type testBundle struct {
	fake   *cloudtest.Server
	client *whatsappcloud.Client
}

func setup(t *testing.T, opts cloudtest.Options) testBundle {
	t.Helper()
	fake := cloudtest.New(t, opts)
	return testBundle{fake: fake, client: newClient(t, fake, fake.Token())}
}

func newClient(t *testing.T, fake *cloudtest.Server, token string) *whatsappcloud.Client {
	t.Helper()
	c, err := whatsappcloud.New(whatsappcloud.Config{
		GraphURL:      fake.URL,
		PhoneNumberID: fake.PhoneNumberID(),
		WABAID:        fake.WABAID(),
		AccessToken:   token,
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
	})
	require.NoError(t, err)
	return c
}

func TestCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{VerifiedName: "Lucky Shrub", QualityRating: "YELLOW"})

	p, err := b.client.Check(context.Background())
	require.NoError(t, err)
	require.Equal(t, whatsappcloud.PhoneNumber{
		ID: b.fake.PhoneNumberID(), DisplayPhoneNumber: "+1 555-0100", VerifiedName: "Lucky Shrub", QualityRating: "YELLOW",
	}, p)
}

func TestWrongToken(t *testing.T) {
	t.Parallel()
	fake := cloudtest.New(t, cloudtest.Options{Token: "EAAJBgood"})
	const wrong = "EAAJBwrong-secret-token"
	c := newClient(t, fake, wrong)

	_, err := c.Check(context.Background())
	require.Error(t, err)
	require.ErrorIs(t, err, sender.ErrAccount)
	var ge *whatsappcloud.GraphError
	require.ErrorAs(t, err, &ge)
	require.Equal(t, 190, ge.Code)
	require.Equal(t, http.StatusUnauthorized, ge.HTTPStatus)
	require.Contains(t, err.Error(), "check phone number id")
	require.NotContains(t, err.Error(), wrong)

	_, err = c.SendText(context.Background(), customer, "hello", "")
	require.ErrorIs(t, err, sender.ErrAccount)
	require.Empty(t, fake.Sent())
}

func TestSendText(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})

	id, err := b.client.SendText(context.Background(), customer, "Hello, \"world\"", "3EB0A1B2C3D4E5F60718")
	require.NoError(t, err)
	sent := b.fake.Sent()
	require.Len(t, sent, 1)
	require.True(t, strings.HasPrefix(id, "wamid."), id)
	require.Equal(t, sent[0].WAMID, id)
	require.Equal(t, "3EB0A1B2C3D4E5F60718", sent[0].CallbackData)
	require.JSONEq(t, `{
		"messaging_product": "whatsapp",
		"recipient_type": "individual",
		"to": "+4915112345678",
		"type": "text",
		"text": {"preview_url": false, "body": "Hello, \"world\""},
		"biz_opaque_callback_data": "3EB0A1B2C3D4E5F60718"
	}`, string(sent[0].Body))

	id2, err := b.client.SendText(context.Background(), customer, "again", "")
	require.NoError(t, err)
	require.NotEqual(t, id, id2)
}

func TestSendTemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})

	id, err := b.client.SendTemplate(context.Background(), customer, whatsappcloud.Template{
		Name:       "spring_sale",
		Language:   "en_US",
		BodyParams: []string{"Ada", "20%"},
		Header:     &whatsappcloud.Media{Kind: whatsappcloud.MediaImage, Link: "https://cdn.example.com/sale.jpg"},
	}, "3EB0A1B2C3D4E5F60719")
	require.NoError(t, err)
	sent := b.fake.Sent()
	require.Len(t, sent, 1)
	require.Equal(t, sent[0].WAMID, id)
	require.JSONEq(t, `{
		"messaging_product": "whatsapp",
		"recipient_type": "individual",
		"to": "+4915112345678",
		"type": "template",
		"template": {
			"name": "spring_sale",
			"language": {"code": "en_US"},
			"components": [
				{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/sale.jpg"}}]},
				{"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "20%"}]}
			]
		},
		"biz_opaque_callback_data": "3EB0A1B2C3D4E5F60719"
	}`, string(sent[0].Body))
	require.Equal(t, "3EB0A1B2C3D4E5F60719", sent[0].CallbackData)
}

// TestSendTemplateNamedParams: a template with named placeholders gets each parameter's
// name, as Meta requires for parameter_format NAMED.
func TestSendTemplateNamedParams(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})

	_, err := b.client.SendTemplate(context.Background(), customer, whatsappcloud.Template{Name: "order_ready", Language: "en",
		BodyParams: []string{"Ada", "A-17"}, BodyParamNames: []string{"first_name", "order_id"}}, "")
	require.NoError(t, err)
	require.JSONEq(t, `{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+4915112345678",
		"type": "template", "template": {"name": "order_ready", "language": {"code": "en"}, "components": [
			{"type": "body", "parameters": [
				{"type": "text", "text": "Ada", "parameter_name": "first_name"},
				{"type": "text", "text": "A-17", "parameter_name": "order_id"}]}]}
	}`, string(b.fake.Sent()[0].Body))

	_, err = b.client.SendTemplate(context.Background(), customer, whatsappcloud.Template{Name: "order_ready", Language: "en",
		BodyParams: []string{"Ada", "A-17"}, BodyParamNames: []string{"first_name"}}, "")
	require.ErrorIs(t, err, whatsappcloud.ErrInvalidMessage)
	require.Len(t, b.fake.Sent(), 1, "a mismatch is refused before Meta is called")
}

func TestSendTemplateWithoutParams(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})

	_, err := b.client.SendTemplate(context.Background(), customer, whatsappcloud.Template{Name: "hello_world", Language: "en_US"}, "")
	require.NoError(t, err)
	require.JSONEq(t, `{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+4915112345678",
		"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}
	}`, string(b.fake.Sent()[0].Body))
}

func TestSendRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})
	ctx := context.Background()

	_, err := b.client.SendText(ctx, "4915112345678", "hi", "")
	require.ErrorIs(t, err, sender.ErrInvalidPhone)
	require.ErrorIs(t, err, sender.ErrPermanent)
	_, err = b.client.SendText(ctx, customer, " ", "")
	require.ErrorIs(t, err, whatsappcloud.ErrInvalidMessage)
	_, err = b.client.SendTemplate(ctx, customer, whatsappcloud.Template{Name: "x", Language: "en", Header: &whatsappcloud.Media{Kind: "gif", Link: "https://a.example/x"}}, "")
	require.ErrorIs(t, err, sender.ErrPermanent)
	_, err = b.client.SendTemplate(ctx, customer, whatsappcloud.Template{Name: "x", Language: "en", BodyParams: []string{"a", ""}}, "")
	require.ErrorIs(t, err, whatsappcloud.ErrInvalidMessage)
	require.Contains(t, err.Error(), "{{2}}")
	_, err = b.client.SendText(ctx, customer, "hi", strings.Repeat("x", 513))
	require.ErrorIs(t, err, whatsappcloud.ErrInvalidMessage, "Meta's callback data is at most 512 characters")
	require.Zero(t, b.fake.Requests(), "nothing invalid reaches Meta")
}

func TestSendErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		failure    cloudtest.Failure
		class      whatsappcloud.Class
		is         []error // errors.Is holds
		isNot      []error // errors.Is does not hold
		retryAfter bool
	}{
		{"throughput", cloudtest.Failure{Code: 130429, Message: "(#130429) Rate limit hit"},
			whatsappcloud.ClassThrottled, []error{whatsappcloud.ErrThrottled}, []error{sender.ErrPermanent, sender.ErrAccount}, true},
		{"spam rate limit", cloudtest.Failure{Code: 131048},
			whatsappcloud.ClassThrottled, []error{whatsappcloud.ErrThrottled}, []error{sender.ErrPermanent, sender.ErrAccount}, true},
		{"pair rate limit", cloudtest.Failure{Code: 131056},
			whatsappcloud.ClassRecipientThrottled, []error{whatsappcloud.ErrThrottled}, []error{sender.ErrPermanent, sender.ErrAccount}, true},
		{"undeliverable", cloudtest.Failure{Code: 131026},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent}, []error{sender.ErrAccount, whatsappcloud.ErrTemplate, whatsappcloud.ErrMarketingOptOut}, false},
		{"re-engagement", cloudtest.Failure{Code: 131047, Details: "More than 24 hours have passed since the recipient last replied"},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent, whatsappcloud.ErrOutsideWindow}, []error{sender.ErrAccount}, false},
		{"ecosystem", cloudtest.Failure{Code: 131049},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent}, []error{whatsappcloud.ErrThrottled, whatsappcloud.ErrMarketingOptOut}, false},
		{"marketing opt-out", cloudtest.Failure{Code: 131050},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent, whatsappcloud.ErrMarketingOptOut}, []error{sender.ErrAccount, whatsappcloud.ErrTemplate}, false},
		{"template not found", cloudtest.Failure{Code: 132000},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent, whatsappcloud.ErrTemplate}, []error{sender.ErrAccount, whatsappcloud.ErrMarketingOptOut}, false},
		{"template paused", cloudtest.Failure{Code: 132015},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent, whatsappcloud.ErrTemplate}, nil, false},
		{"template last of range", cloudtest.Failure{Code: 132999},
			whatsappcloud.ClassPermanent, []error{whatsappcloud.ErrTemplate}, nil, false},
		{"token expired", cloudtest.Failure{HTTPStatus: 401, Code: 190, Message: "Error validating access token: Session has expired"},
			whatsappcloud.ClassAccount, []error{sender.ErrAccount}, []error{sender.ErrPermanent}, false},
		{"policy block", cloudtest.Failure{HTTPStatus: 403, Code: 368, Message: "(#368) Temporarily blocked for policies violations"},
			whatsappcloud.ClassAccount, []error{sender.ErrAccount}, []error{sender.ErrPermanent}, false},
		{"meta 5xx with payload", cloudtest.Failure{HTTPStatus: 500, Code: 131000},
			whatsappcloud.ClassTransient, nil, []error{sender.ErrPermanent, sender.ErrAccount, whatsappcloud.ErrThrottled}, false},
		{"proxy 502 page", cloudtest.Failure{HTTPStatus: 502, Raw: "<html>Bad Gateway</html>"},
			whatsappcloud.ClassTransient, nil, []error{sender.ErrPermanent, sender.ErrAccount}, false},
		{"503 unknown code", cloudtest.Failure{HTTPStatus: 503, Code: 999999},
			whatsappcloud.ClassTransient, nil, []error{sender.ErrPermanent, sender.ErrAccount}, false},
		{"invalid parameter", cloudtest.Failure{Code: 100},
			whatsappcloud.ClassPermanent, []error{sender.ErrPermanent}, []error{whatsappcloud.ErrTemplate}, false},
		{"429 without code", cloudtest.Failure{HTTPStatus: 429, Raw: "slow down"},
			whatsappcloud.ClassThrottled, []error{whatsappcloud.ErrThrottled}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, cloudtest.Options{})
			b.fake.FailNext(1, tt.failure)

			_, err := b.client.SendTemplate(context.Background(), customer, whatsappcloud.Template{Name: "t", Language: "en"}, "")
			require.Error(t, err)
			var ge *whatsappcloud.GraphError
			require.ErrorAs(t, err, &ge)
			require.Equal(t, tt.class, ge.Class)
			require.Equal(t, tt.failure.Raw == "", ge.Payload)
			if tt.failure.Raw == "" {
				require.Equal(t, tt.failure.Code, ge.Code)
				require.Equal(t, "AFakeTraceId", ge.FBTraceID)
			}
			for _, target := range tt.is {
				require.ErrorIs(t, err, target)
			}
			for _, target := range tt.isNot {
				require.NotErrorIs(t, err, target)
			}
			d, ok := whatsappcloud.RetryAfter(err)
			require.Equal(t, tt.retryAfter, ok)
			require.Equal(t, tt.retryAfter, d > 0)
			require.Equal(t, ge.Temporary(), tt.class != whatsappcloud.ClassPermanent && tt.class != whatsappcloud.ClassAccount)
			if tt.failure.Details != "" {
				require.Contains(t, err.Error(), tt.failure.Details, "the reason reaches the caller")
			}
			require.Empty(t, b.fake.Sent())

			// The failure was for the next send only.
			_, err = b.client.SendText(context.Background(), customer, "hi", "")
			require.NoError(t, err)
		})
	}
}

func TestClassifyBacksOffLongerForSpamThanThroughput(t *testing.T) {
	t.Parallel()
	_, throughput := whatsappcloud.Classify(130429, 400)
	_, spam := whatsappcloud.Classify(131048, 400)
	_, pair := whatsappcloud.Classify(131056, 400)
	require.Positive(t, throughput)
	require.Greater(t, spam, throughput)
	require.Greater(t, pair, throughput)
}

func TestNetworkErrorIsTransient(t *testing.T) {
	t.Parallel()
	fake := cloudtest.New(t, cloudtest.Options{})
	c := newClient(t, fake, fake.Token())
	fake.Close()

	_, err := c.SendText(context.Background(), customer, "hi", "")
	require.Error(t, err)
	require.NotErrorIs(t, err, sender.ErrPermanent)
	require.NotErrorIs(t, err, sender.ErrAccount)
	var ge *whatsappcloud.GraphError
	require.False(t, errors.As(err, &ge))
}

func TestTokenAndNumberNeverInErrors(t *testing.T) {
	t.Parallel()
	const token = "EAAJBsecret-token-value"
	fake := cloudtest.New(t, cloudtest.Options{Token: token})
	c := newClient(t, fake, token)

	// Meta echoing the token or the number back must not carry them into Crier's errors.
	fake.FailNext(1, cloudtest.Failure{Code: 131026, Message: "bad token " + token, Details: "recipient 4915112345678 / " + customer})
	_, err := c.SendText(context.Background(), customer, "hi", "")
	require.Error(t, err)
	var ge *whatsappcloud.GraphError
	require.ErrorAs(t, err, &ge)
	for _, s := range []string{err.Error(), ge.Message, ge.Details, fmt.Sprintf("%+v", err)} {
		require.NotContains(t, s, token)
		require.NotContains(t, s, "4915112345678")
	}
	require.Contains(t, err.Error(), "[redacted]")

	// Nor a network error.
	fake.Close()
	_, err = c.Check(context.Background())
	require.Error(t, err)
	require.NotContains(t, err.Error(), token)

	// Nor the config or client when printed or logged.
	cfg := whatsappcloud.Config{GraphURL: fake.URL, PhoneNumberID: "1", AccessToken: token}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cloud", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(c), logged.String()} {
		require.NotContains(t, s, token)
	}
	require.Contains(t, logged.String(), `"phone_number_id":"1"`)
}

func TestTemplatesPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{PageSize: 2})
	var want []cloudtest.Template
	statuses := []string{"APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"}
	for i := range 5 {
		want = append(want, cloudtest.Template{
			ID: fmt.Sprint(900 + i), Name: fmt.Sprintf("t%d", i), Language: "en_US", Category: "MARKETING", Status: statuses[i],
			Components: []map[string]any{
				{"type": "HEADER", "format": "IMAGE", "example": map[string]any{"header_handle": []string{"https://x"}}},
				{"type": "BODY", "text": "Hi {{1}}"},
			},
		})
	}
	b.fake.SetTemplates(want)

	got, err := b.client.Templates(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 5)
	require.Equal(t, 3, b.fake.Requests(), "three pages: two, two, one")
	require.False(t, b.fake.TokenInQuery(), "the client follows the cursor, not the next URL with the token")
	for i, tm := range got {
		require.Equal(t, want[i].Name, tm.Name)
		require.Equal(t, want[i].ID, tm.ID)
		require.Equal(t, "en_US", tm.Language)
		require.Equal(t, whatsappcloud.CategoryMarketing, tm.Category)
		require.Equal(t, whatsappcloud.TemplateStatus(statuses[i]), tm.Status)
		require.Len(t, tm.Components, 2)
		require.Equal(t, "HEADER", tm.Components[0].Type)
		require.Equal(t, "IMAGE", tm.Components[0].Format)
		require.Contains(t, string(tm.Components[0].Raw), "header_handle")
		require.Equal(t, "Hi {{1}}", tm.Components[1].Text)
	}
}

func TestTemplatesEmptyAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, cloudtest.Options{})
	got, err := b.client.Templates(context.Background())
	require.NoError(t, err)
	require.Empty(t, got)

	c, err := whatsappcloud.New(whatsappcloud.Config{GraphURL: b.fake.URL, PhoneNumberID: b.fake.PhoneNumberID(), AccessToken: "x"})
	require.NoError(t, err)
	_, err = c.Templates(context.Background())
	require.ErrorIs(t, err, whatsappcloud.ErrConfig)

	wrong := newClient(t, b.fake, "nope")
	_, err = wrong.Templates(context.Background())
	require.ErrorIs(t, err, sender.ErrAccount)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := whatsappcloud.New(whatsappcloud.Config{})
	require.ErrorIs(t, err, whatsappcloud.ErrConfig)
	require.Contains(t, err.Error(), "PhoneNumberID")
	require.Contains(t, err.Error(), "AccessToken")

	_, err = whatsappcloud.New(whatsappcloud.Config{PhoneNumberID: "1", AccessToken: "t", APIVersion: "21"})
	require.ErrorContains(t, err, "APIVersion")
	_, err = whatsappcloud.New(whatsappcloud.Config{PhoneNumberID: "1", AccessToken: "t", GraphURL: "ftp://x"})
	require.ErrorContains(t, err, "GraphURL")

	c, err := whatsappcloud.New(whatsappcloud.Config{PhoneNumberID: "1", AccessToken: "t"})
	require.NoError(t, err)
	require.Contains(t, c.String(), whatsappcloud.DefaultGraphURL)
	require.Contains(t, c.String(), whatsappcloud.DefaultAPIVersion)
}
