package httpapi

import (
	"net/http"

	"github.com/crierhq/crier/auth"
)

// route is one entry of the route table.
type route struct {
	pattern string          // method and path, Go 1.22 ServeMux syntax
	perm    auth.Permission // what the caller needs; "" for public routes
	action  string          // the audit action; "" when the route changes nothing
	target  string          // the audit target type named by the {id} path parameter
	browser bool            // a page for browsers: a 401 offers HTTP Basic (the key as the password)
	sandbox bool            // a sandbox route: 404 when Options.SandboxOff
	page    bool            // a console page: a session cookie signs in (else the sign-in page), errors are HTML
	handle  func(http.ResponseWriter, *http.Request) error
}

// routes is the whole API, in one table: every route with the permission it needs and
// the audit action it records.
func (s *Server) routes() []route {
	return []route{
		{pattern: "GET /healthz", handle: s.healthz},
		{pattern: "GET /readyz", handle: s.readyz},
		{pattern: "GET /metrics", handle: s.metrics},
		// The API describes itself: the OpenAPI spec, and a page that renders it (docs.go).
		{pattern: "GET /openapi.yaml", handle: s.openapiSpec},
		{pattern: "GET /docs", handle: s.apiDocs},
		{pattern: "GET /docs/redoc.standalone.js", handle: s.apiDocsScript},
		// The Cloud API's webhooks: no API key, Meta's signature instead (cloud.go).
		{pattern: "GET /v1/channels/whatsapp_cloud/{id}/webhook", handle: s.cloudHandshake},
		{pattern: "POST /v1/channels/whatsapp_cloud/{id}/webhook", handle: s.cloudWebhook},
		// The Asynq dashboard: reading is free for its viewers, changes (retry, delete,
		// pause a queue) are audited.
		{pattern: "GET /monitoring/", perm: auth.Dashboard, browser: true, handle: s.monitoring},
		{pattern: "/monitoring/", perm: auth.Dashboard, browser: true, action: "monitoring.change", handle: s.monitoring},

		{pattern: "POST /v1/contacts", perm: auth.ContactsWrite, action: "contact.upsert", handle: s.contactUpsert},
		{pattern: "GET /v1/contacts", perm: auth.ContactsRead, handle: s.contactList},
		{pattern: "POST /v1/contacts/import", perm: auth.ContactsWrite, action: "contact.import", handle: s.contactImport},
		// An import's outcome holds no personal data (counts, line numbers, reasons): whoever
		// may read the contacts may follow it.
		{pattern: "GET /v1/imports/{id}", perm: auth.ContactsRead, handle: s.importGet},
		{pattern: "GET /v1/imports/{id}/rejects", perm: auth.ContactsRead, handle: s.importRejects},
		{pattern: "GET /v1/contacts/{id}", perm: auth.ContactsRead, handle: s.contactGet},
		{pattern: "PATCH /v1/contacts/{id}", perm: auth.ContactsWrite, action: "contact.update", target: "contact", handle: s.contactUpdate},
		{pattern: "DELETE /v1/contacts/{id}", perm: auth.ContactsWrite, action: "contact.delete", target: "contact", handle: s.contactDelete},
		{pattern: "POST /v1/contacts/{id}/tags", perm: auth.ContactsWrite, action: "contact.tag", target: "contact", handle: s.contactTag},
		{pattern: "DELETE /v1/contacts/{id}/tags/{tag}", perm: auth.ContactsWrite, action: "contact.untag", target: "contact", handle: s.contactUntag},

		// A withdrawal needs consent:withdraw; a grant also consent:write, and a compliance
		// grant consent:lift (consentRecord asks the same table).
		{pattern: "POST /v1/contacts/{id}/consent", perm: auth.ConsentWithdraw, action: "consent.record", target: "contact", handle: s.consentRecord},
		{pattern: "GET /v1/contacts/{id}/consent", perm: auth.ConsentRead, handle: s.consentHistory},
		{pattern: "GET /v1/contacts/{id}/export", perm: auth.PrivacyExport, action: "contact.export", target: "contact", handle: s.contactExport},
		{pattern: "POST /v1/contacts/{id}/erase", perm: auth.PrivacyErase, action: "contact.erase", target: "contact", handle: s.contactErase},
		{pattern: "GET /v1/suppressions", perm: auth.SuppressionsRead, handle: s.suppressionList},
		{pattern: "POST /v1/suppressions", perm: auth.SuppressionsEdit, action: "suppression.add", handle: s.suppressionAdd},
		{pattern: "DELETE /v1/suppressions/{phone}", perm: auth.SuppressionsEdit, action: "suppression.remove", handle: s.suppressionRemove},

		{pattern: "POST /v1/templates", perm: auth.TemplatesWrite, action: "template.create", handle: s.templateCreate},
		{pattern: "GET /v1/templates", perm: auth.TemplatesRead, handle: s.templateList},
		{pattern: "GET /v1/templates/{id}", perm: auth.TemplatesRead, handle: s.templateGet},
		{pattern: "PUT /v1/templates/{id}", perm: auth.TemplatesWrite, action: "template.update", target: "template", handle: s.templateUpdate},
		{pattern: "POST /v1/templates/{id}/preview", perm: auth.TemplatesRead, handle: s.templatePreview},

		{pattern: "POST /v1/accounts", perm: auth.AccountsWrite, action: "account.create", handle: s.accountCreate},
		{pattern: "GET /v1/accounts", perm: auth.AccountsRead, handle: s.accountList},
		{pattern: "GET /v1/accounts/{id}", perm: auth.AccountsRead, handle: s.accountGet},
		{pattern: "DELETE /v1/accounts/{id}", perm: auth.AccountsWrite, action: "account.delete", target: "account", handle: s.accountDelete},
		{pattern: "POST /v1/accounts/{id}/pair", perm: auth.AccountsWrite, action: "account.pair", target: "account", handle: s.accountPair},
		{pattern: "PATCH /v1/accounts/{id}", perm: auth.AccountsWrite, action: "account.update", target: "account", handle: s.accountUpdate},
		{pattern: "POST /v1/accounts/{id}/pause", perm: auth.AccountsWrite, action: "account.pause", target: "account", handle: s.accountPause},
		// Meta's templates become Crier templates: whoever writes templates may sync them.
		{pattern: "POST /v1/accounts/{id}/templates/sync", perm: auth.TemplatesWrite, action: "account.templates_sync", target: "account", handle: s.cloudTemplatesSync},
		{pattern: "GET /v1/accounts/{id}/templates", perm: auth.TemplatesRead, handle: s.cloudTemplatesList},
		{pattern: "POST /v1/accounts/{id}/resume", perm: auth.AccountsWrite, action: "account.resume", target: "account", handle: s.accountResume},

		{pattern: "POST /v1/sandbox/inbound", perm: auth.SandboxInbound, action: "sandbox.inbound", sandbox: true, handle: s.sandboxInbound},
		{pattern: "GET /v1/sandbox/messages", perm: auth.Sandbox, sandbox: true, handle: s.sandboxMessages},

		{pattern: "POST /v1/campaigns", perm: auth.CampaignsWrite, action: "campaign.create", handle: s.campaignCreate},
		{pattern: "GET /v1/campaigns", perm: auth.CampaignsRead, handle: s.campaignList},
		{pattern: "GET /v1/campaigns/{id}", perm: auth.CampaignsRead, handle: s.campaignGet},
		{pattern: "PATCH /v1/campaigns/{id}", perm: auth.CampaignsWrite, action: "campaign.update", target: "campaign", handle: s.campaignUpdate},
		{pattern: "POST /v1/campaigns/{id}/preview", perm: auth.CampaignsRead, handle: s.campaignPreview},
		{pattern: "POST /v1/campaigns/{id}/schedule", perm: auth.CampaignsWrite, action: "campaign.schedule", target: "campaign", handle: s.campaignSchedule},
		{pattern: "POST /v1/campaigns/{id}/pause", perm: auth.CampaignsControl, action: "campaign.pause", target: "campaign", handle: s.campaignPause},
		{pattern: "POST /v1/campaigns/{id}/resume", perm: auth.CampaignsControl, action: "campaign.resume", target: "campaign", handle: s.campaignResume},
		{pattern: "POST /v1/campaigns/{id}/cancel", perm: auth.CampaignsControl, action: "campaign.cancel", target: "campaign", handle: s.campaignCancel},
		{pattern: "GET /v1/campaigns/{id}/stats", perm: auth.CampaignsRead, handle: s.campaignStats},
		{pattern: "GET /v1/campaigns/{id}/timeline", perm: auth.CampaignsRead, handle: s.campaignTimeline},
		{pattern: "GET /v1/campaigns/{id}/deliveries", perm: auth.CampaignsRead, handle: s.campaignDeliveries},

		{pattern: "POST /v1/segments", perm: auth.SegmentsWrite, action: "segment.create", handle: s.segmentCreate},
		{pattern: "GET /v1/segments", perm: auth.SegmentsRead, handle: s.segmentList},
		// Counts a filter that is not saved (the console's segment builder): reads only.
		{pattern: "POST /v1/segments/count", perm: auth.SegmentsRead, handle: s.segmentCount},
		{pattern: "GET /v1/segments/{id}", perm: auth.SegmentsRead, handle: s.segmentGet},
		{pattern: "PATCH /v1/segments/{id}", perm: auth.SegmentsWrite, action: "segment.update", target: "segment", handle: s.segmentUpdate},
		{pattern: "DELETE /v1/segments/{id}", perm: auth.SegmentsWrite, action: "segment.delete", target: "segment", handle: s.segmentDelete},

		// The replies inbox: the text in clear only for roles with contacts:pii (replies.go).
		{pattern: "GET /v1/replies", perm: auth.RepliesRead, handle: s.replyList},
		{pattern: "POST /v1/replies/{id}/handled", perm: auth.RepliesHandle, action: "reply.handled", target: "reply", handle: s.replyHandled},

		// Outbound webhooks (webhooks.go): admin only.
		{pattern: "POST /v1/webhooks", perm: auth.WebhooksManage, action: "webhook.create", handle: s.webhookCreate},
		{pattern: "GET /v1/webhooks", perm: auth.WebhooksManage, handle: s.webhookList},
		{pattern: "GET /v1/webhooks/{id}", perm: auth.WebhooksManage, handle: s.webhookGet},
		{pattern: "PATCH /v1/webhooks/{id}", perm: auth.WebhooksManage, action: "webhook.update", target: "webhook", handle: s.webhookUpdate},
		{pattern: "DELETE /v1/webhooks/{id}", perm: auth.WebhooksManage, action: "webhook.delete", target: "webhook", handle: s.webhookDelete},
		{pattern: "POST /v1/webhooks/{id}/rotate-secret", perm: auth.WebhooksManage, action: "webhook.rotate_secret", target: "webhook", handle: s.webhookRotate},
		{pattern: "GET /v1/webhooks/{id}/deliveries", perm: auth.WebhooksManage, handle: s.webhookDeliveries},
		{pattern: "POST /v1/webhooks/{id}/deliveries/{delivery}/replay", perm: auth.WebhooksManage, action: "webhook.replay", target: "webhook", handle: s.webhookReplay},

		// Console users (users.go): admin only; a user's own password: every signed-in user.
		{pattern: "POST /v1/users", perm: auth.UsersManage, action: "user.create", handle: s.userCreate},
		{pattern: "GET /v1/users", perm: auth.UsersManage, handle: s.userList},
		{pattern: "GET /v1/users/{id}", perm: auth.UsersManage, handle: s.userGet},
		{pattern: "PATCH /v1/users/{id}", perm: auth.UsersManage, action: "user.update", target: "user", handle: s.userUpdate},
		{pattern: "POST /v1/users/{id}/sign-in-link", perm: auth.UsersManage, action: "user.sign_in_link", target: "user", handle: s.userSignInLink},
		{pattern: "POST /v1/me/password", perm: auth.Self, action: "user.password", handle: s.mePassword},

		{pattern: "GET /v1/audit", perm: auth.AuditRead, handle: s.auditList},
	}
}
