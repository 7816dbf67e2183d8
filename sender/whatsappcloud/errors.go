package whatsappcloud

// Meta's error payload and what Crier does about each code.
//
// Checked with the search tool (December 2026): the payload shape
// {"error":{"message","type","code","error_data":{"messaging_product","details"},
// "error_subcode","fbtrace_id"}} and the advice to branch on code and details, not on
// titles, HTTP statuses or error_subcode (deprecated, absent from v16.0+ responses), on
// Meta's "WhatsApp error codes" page
// (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes)
// and copies of it. The meaning of the codes comes from copies of that page's table and
// from vendors' pages quoting it, not from Meta's table itself, which the search did not
// return: 130429 rate limit hit (throughput), 131048 spam rate limit hit, 131056
// (business account, consumer account) pair rate limit hit, 368 temporarily blocked for
// policy violations, 190 access token expired, 0/10/200-299 authentication and
// permissions, 4 and 80007 call-rate limits, 1/2 unknown or service errors, 131049 "not
// delivered to maintain healthy ecosystem engagement" (per-user marketing limits; vendors
// advise waiting 24 hours), 131050 the recipient stopped marketing messages from the
// business, 131047 re-engagement (more than 24 hours since the customer last replied),
// 132000 template not found / parameter count mismatch and 132xxx template errors. Not
// confirmed: 131026's exact title (vendors: message undeliverable), 131031 (account
// locked) and 131042 (payment issue), 131000 and 133004 (server errors), which are
// classified from memory of Meta's table.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crierhq/crier/sender"
)

// Errors callers branch on, besides sender.ErrPermanent and sender.ErrAccount. A
// classified *GraphError is each of these where its code says so (errors.Is).
var (
	// ErrTemplate: the template or its parameters are wrong (codes 132000 to 132999): not
	// found, not approved, paused, or the parameters do not match. Every message of the
	// campaign would fail the same way, so a run can stop at the first one. Permanent.
	ErrTemplate = errors.New("whatsappcloud: template error")
	// ErrMarketingOptOut: the recipient stopped marketing messages from the business on
	// WhatsApp (131050). The pipeline records it as a withdrawal of consent. Permanent.
	ErrMarketingOptOut = errors.New("whatsappcloud: the recipient stopped marketing messages from the business")
	// ErrOutsideWindow: more than 24 hours passed since the customer last wrote, so only
	// an approved template may be sent (131047, re-engagement). Permanent for this
	// message: send a template instead.
	ErrOutsideWindow = errors.New("whatsappcloud: outside the 24-hour customer service window: send a template")
	// ErrThrottled: Meta refused the send for a rate limit (130429, 131048, 131056, 4,
	// 80007, HTTP 429). Transient: retry after the error's RetryAfter.
	ErrThrottled = errors.New("whatsappcloud: rate limited by Meta")
)

// Meta's error codes that Crier branches on.
const (
	codeAuth               = 0      // AuthException: the token could not be authenticated
	codeUnknown            = 1      // API unknown: possibly a server error
	codeService            = 2      // API service: temporary downtime or overload
	codeTooManyCalls       = 4      // the app's call-rate limit
	codePermissionDenied   = 10     // a permission not granted or removed
	codeTokenExpired       = 190    // the access token expired or is invalid
	codePolicyBlock        = 368    // temporarily blocked for policy violations
	codeWABARateLimit      = 80007  // the WhatsApp Business Account's call-rate limit
	codeThroughput         = 130429 // the number's message throughput
	codeSomethingWrong     = 131000 // "something went wrong": Meta's own failure
	codeUndeliverable      = 131026 // the message could not be delivered to the number
	codeAccountLocked      = 131031 // the business account is locked
	codePaymentIssue       = 131042 // the business account's payment
	codeReEngagement       = 131047 // outside the 24-hour window
	codeSpamRateLimit      = 131048 // too many messages blocked or flagged as spam
	codeEcosystem          = 131049 // not delivered "to maintain healthy ecosystem engagement"
	codeMarketingOptOut    = 131050 // the recipient stopped marketing messages
	codePairRateLimit      = 131056 // too many messages to this recipient
	codeTemplateFirst      = 132000 // the template errors are 132000…132999
	codeTemplateLast       = 132999
	codeServiceUnavailable = 133004 // the server is temporarily unavailable
)

// The back-offs Crier suggests for each rate limit (GraphError.RetryAfter). Meta
// publishes none of them: throughput refills within seconds, the spam limit is about
// the number's quality and lasts longer, and the pair limit is per recipient (Meta:
// "you can still send messages to a different phone number without waiting").
const (
	retryThroughput = 5 * time.Second
	retryCallRate   = 30 * time.Second
	retryPairLimit  = time.Minute
	retrySpamLimit  = 10 * time.Minute
)

// Class is what Crier does about a failed Graph API call.
type Class string

// The classes.
const (
	// ClassTransient: retry later (Meta's server errors, network errors, unknown 5xx).
	ClassTransient Class = "transient"
	// ClassThrottled: the account is rate limited; back off the account for RetryAfter.
	ClassThrottled Class = "throttled"
	// ClassRecipientThrottled: this business-recipient pair is rate limited; back off this
	// recipient for RetryAfter, other recipients may be sent to at once.
	ClassRecipientThrottled Class = "recipient_throttled"
	// ClassPermanent: no retry can fix this message (sender.ErrPermanent).
	ClassPermanent Class = "permanent"
	// ClassAccount: the account cannot send (its token, its policy standing, its
	// payment); pause it (sender.ErrAccount).
	ClassAccount Class = "account"
)

// GraphError is a failed Graph API call: Meta's error payload, or the HTTP status alone
// where the body was not one. It never holds the access token.
type GraphError struct {
	HTTPStatus int    // the response's status
	Code       int    // error.code; 0 also when the body was not Meta's payload
	Subcode    int    // error.error_subcode (deprecated by Meta, kept for support)
	Type       string // error.type, e.g. OAuthException
	Message    string // error.message, e.g. "(#131050) ..."
	Details    string // error.error_data.details: the most useful text
	FBTraceID  string // error.fbtrace_id, for Meta's support
	// Payload: the body was Meta's error payload; false for a proxy's page or garbage.
	Payload bool

	// Class and RetryAfter are what Crier does about it (classify).
	Class      Class
	RetryAfter time.Duration // a suggested back-off for the throttled classes; 0 otherwise
}

func (e *GraphError) Error() string {
	var b strings.Builder
	if e.Payload {
		fmt.Fprintf(&b, "graph error %d (HTTP %d)", e.Code, e.HTTPStatus)
	} else {
		fmt.Fprintf(&b, "graph API answered HTTP %d", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": " + e.Details)
	}
	if e.FBTraceID != "" {
		b.WriteString(" (fbtrace_id " + e.FBTraceID + ")")
	}
	return b.String()
}

// Temporary reports whether retrying later may succeed.
func (e *GraphError) Temporary() bool {
	return e.Class == ClassTransient || e.Class == ClassThrottled || e.Class == ClassRecipientThrottled
}

// graphPayload is Meta's error body.
type graphPayload struct {
	Error *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// parseGraphError reads a failed response's body into a classified *GraphError.
func parseGraphError(status int, body []byte) *GraphError {
	e := &GraphError{HTTPStatus: status}
	var p graphPayload
	if json.Unmarshal(body, &p) == nil && p.Error != nil {
		e.Payload = true
		e.Code, e.Subcode, e.Type = p.Error.Code, p.Error.Subcode, p.Error.Type
		e.Message, e.Details, e.FBTraceID = p.Error.Message, p.Error.ErrorData.Details, p.Error.FBTraceID
	} else {
		e.Message = http.StatusText(status)
	}
	e.Class, e.RetryAfter = Classify(e.Code, status)
	return e
}

// Classify says what Crier does about a Graph API error with Meta's code (0 when the
// body had none) and the response's HTTP status, and how long to back off for the
// throttled classes. Meta asks to branch on the code, so the status decides only for an
// unknown code.
func Classify(code, httpStatus int) (Class, time.Duration) {
	switch {
	case code == codeThroughput:
		return ClassThrottled, retryThroughput
	case code == codeSpamRateLimit:
		return ClassThrottled, retrySpamLimit
	case code == codeTooManyCalls || code == codeWABARateLimit:
		return ClassThrottled, retryCallRate
	case code == codePairRateLimit:
		return ClassRecipientThrottled, retryPairLimit
	case code == codeUndeliverable, code == codeReEngagement, code == codeEcosystem,
		code == codeMarketingOptOut, code >= codeTemplateFirst && code <= codeTemplateLast:
		return ClassPermanent, 0
	case code == codeTokenExpired, code == codePolicyBlock, code == codePermissionDenied,
		code >= 200 && code <= 299, code == codeAccountLocked, code == codePaymentIssue:
		return ClassAccount, 0
	case code == codeUnknown, code == codeService, code == codeSomethingWrong,
		code == codeServiceUnavailable:
		return ClassTransient, 0
	case code == codeAuth && httpStatus == http.StatusUnauthorized:
		return ClassAccount, 0
	}
	switch {
	case httpStatus == http.StatusTooManyRequests:
		return ClassThrottled, retryThroughput
	case httpStatus == http.StatusUnauthorized || httpStatus == http.StatusForbidden:
		return ClassAccount, 0
	case httpStatus >= 500 || httpStatus == http.StatusRequestTimeout:
		return ClassTransient, 0
	case httpStatus >= 400:
		// The request itself is wrong (an invalid parameter, 100, or a code Crier does not
		// know): sending it again would fail again.
		return ClassPermanent, 0
	}
	return ClassTransient, 0
}

// classified wraps e so that errors.Is answers the sender package's kinds and this
// package's sentinels, keeping e reachable with errors.As.
func classified(e *GraphError) error {
	var err error = e
	switch {
	case e.Code == codeMarketingOptOut:
		err = sender.Mark(err, ErrMarketingOptOut)
	case e.Code == codeReEngagement:
		err = sender.Mark(err, ErrOutsideWindow)
	case e.Code >= codeTemplateFirst && e.Code <= codeTemplateLast:
		err = sender.Mark(err, ErrTemplate)
	}
	switch e.Class {
	case ClassPermanent:
		return sender.Permanent(err)
	case ClassAccount:
		return sender.AccountFailure(err)
	case ClassThrottled, ClassRecipientThrottled:
		return sender.Mark(err, ErrThrottled)
	}
	return err
}

// RetryAfter returns the back-off that err suggests, if it is a throttled *GraphError.
func RetryAfter(err error) (time.Duration, bool) {
	var ge *GraphError
	if errors.As(err, &ge) && ge.RetryAfter > 0 {
		return ge.RetryAfter, true
	}
	return 0, false
}

// redacted hides secrets (the access token, the recipient's number) in err's message and
// keeps err's chain, so that the error can be logged or stored by the caller.
func redacted(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, secrets: secrets}
}

type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	return redactString(e.err.Error(), e.secrets)
}

func (e *redactedError) Unwrap() error { return e.err }

// accountReason says, for people, why Meta refuses the account: the Manager pauses the
// account with it, and the API shows it when an account is created.
func accountReason(e *GraphError) string {
	switch {
	case e.Code == codeTokenExpired:
		return fmt.Sprintf("the access token expired or was revoked (%d): create a new system user token", e.Code)
	case e.Code == codePolicyBlock:
		return fmt.Sprintf("Meta temporarily blocked the account for policy violations (%d)", e.Code)
	case e.Code == codeAccountLocked:
		return fmt.Sprintf("Meta locked the WhatsApp Business Account (%d)", e.Code)
	case e.Code == codePaymentIssue:
		return fmt.Sprintf("the WhatsApp Business Account has a payment issue (%d)", e.Code)
	case e.Code == codePermissionDenied || e.Code >= 200 && e.Code <= 299:
		return fmt.Sprintf("the access token lacks a permission for this number (%d): give the system user whatsapp_business_messaging and whatsapp_business_management on it", e.Code)
	case e.Code == codeAuth && e.Payload:
		return fmt.Sprintf("Meta could not authenticate the access token (%d)", e.Code)
	}
	return fmt.Sprintf("Meta refused the account's access token (HTTP %d)", e.HTTPStatus)
}
