package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what an API key is allowed to do, as a bundle of permissions.
type Role string

// The roles of DESIGN §5.
const (
	Admin      Role = "admin"      // everything
	Marketer   Role = "marketer"   // contacts (masked phones), tags, templates, campaigns
	Ops        Role = "ops"        // accounts, campaign pause/resume/cancel, the dashboard; read-only elsewhere
	Agent      Role = "agent"      // contact detail with phones; consent on a customer's behalf (never lifting an opt-out)
	Compliance Role = "compliance" // export, erasure, suppressions, the audit log
)

// Roles lists every role, in the order they are documented.
var Roles = []Role{Admin, Marketer, Ops, Agent, Compliance}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Roles, r) {
		names := make([]string, len(Roles))
		for i, r := range Roles {
			names[i] = string(r)
		}
		return "", fmt.Errorf("unknown role %q: the roles are %s", s, strings.Join(names, ", "))
	}
	return r, nil
}

// Permission is one thing a request may need to be allowed to do.
type Permission string

// The permissions. Routes name the one they need; roles are granted them in grants.
const (
	ContactsRead     Permission = "contacts:read"     // read a contact, look one up by phone (phones masked without ContactsPII)
	ContactsList     Permission = "contacts:list"     // page through the contacts
	ContactsPII      Permission = "contacts:pii"      // see phone numbers and emails in clear
	ContactsWrite    Permission = "contacts:write"    // create, update, tag, import, delete
	ConsentRead      Permission = "consent:read"      // read a contact's consent ledger
	ConsentWithdraw  Permission = "consent:withdraw"  // record a withdrawal (which suppresses the number)
	ConsentWrite     Permission = "consent:write"     // record a grant on a customer's behalf (it lifts no suppression)
	ConsentLift      Permission = "consent:lift"      // record a compliance grant with typed evidence, which lifts an opt-out
	TemplatesRead    Permission = "templates:read"    //
	TemplatesWrite   Permission = "templates:write"   //
	CampaignsRead    Permission = "campaigns:read"    // campaigns, previews, stats, deliveries
	CampaignsWrite   Permission = "campaigns:write"   // create, edit and schedule campaigns
	CampaignsControl Permission = "campaigns:control" // pause, resume, cancel
	AccountsRead     Permission = "accounts:read"     //
	AccountsWrite    Permission = "accounts:write"    // create, pair, pause, resume, delete sending accounts
	SuppressionsRead Permission = "suppressions:read"
	SuppressionsEdit Permission = "suppressions:write"
	PrivacyExport    Permission = "privacy:export" // a data subject's export (GDPR Art. 15/20)
	PrivacyErase     Permission = "privacy:erase"  // erasure (GDPR Art. 17)
	AuditRead        Permission = "audit:read"
	Dashboard        Permission = "dashboard"       // the Asynq dashboard
	Sandbox          Permission = "sandbox"         // read what the simulated WhatsApp network delivered
	SandboxInbound   Permission = "sandbox:inbound" // simulate a customer's message: admin only, as it speaks for a customer
	SegmentsRead     Permission = "segments:read"   // saved segments and their live counts
	SegmentsWrite    Permission = "segments:write"  // create, change and delete saved segments
	RepliesRead      Permission = "replies:read"    // the replies inbox (text masked without ContactsPII)
	RepliesHandle    Permission = "replies:handle"  // mark a reply handled
	WebhooksManage   Permission = "webhooks:manage" // outbound webhooks: admin only, as they send events (and PII) out
	UsersManage      Permission = "users:manage"    // console users: admin only, as a user is a role
	Self             Permission = "self"            // a signed-in user's own account page and password: every role
)

// grants is the permission table: the single place that says which role may do what.
// Admin is not listed: it may do everything. Nobody else may simulate a customer's message
// (SandboxInbound), only compliance may lift an opt-out (ConsentLift), and an agent, who
// sees numbers in clear, looks contacts up one at a time and may not page through them.
var grants = map[Role][]Permission{
	Marketer: {
		Self, ContactsRead, ContactsList, ContactsWrite, ConsentRead, ConsentWithdraw,
		TemplatesRead, TemplatesWrite,
		CampaignsRead, CampaignsWrite, CampaignsControl,
		SegmentsRead, SegmentsWrite, RepliesRead, RepliesHandle,
		AccountsRead, // to choose a campaign's accounts
		Sandbox,
	},
	Ops: {
		Self, ContactsRead, ContactsList, ConsentRead, TemplatesRead, CampaignsRead, SegmentsRead,
		RepliesRead, CampaignsControl, AccountsRead, AccountsWrite, Dashboard, Sandbox,
	},
	Agent: {
		Self, ContactsRead, ContactsPII, ConsentRead, ConsentWithdraw, ConsentWrite,
	},
	Compliance: {
		Self, ContactsRead, ContactsList, ContactsPII, ConsentRead, ConsentWithdraw, ConsentWrite, ConsentLift,
		SuppressionsRead, SuppressionsEdit, PrivacyExport, PrivacyErase, AuditRead, RepliesRead,
	},
}

// Can reports whether the role has the permission.
func (r Role) Can(p Permission) bool {
	if r == Admin {
		return true
	}
	return slices.Contains(grants[r], p)
}
