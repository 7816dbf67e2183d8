package httpapi

import "github.com/crierhq/crier/auth"

// consoleRoutes are the console's pages: the same route type, the same wrap and the same
// permission table as the API's routes. A page reads; every change a page offers is a
// call of the JSON API from console.js. They are kept apart from routes() only because
// docs/openapi.yaml describes the API, not the pages.
func (s *Server) consoleRoutes() []route {
	return []route{
		{pattern: "GET /{$}", handle: s.consoleHome},
		{pattern: "GET /static/{file...}", handle: s.consoleStatic},
		{pattern: "GET /login", handle: s.signInPage},
		{pattern: "POST /login", handle: s.signIn},
		{pattern: "GET /login/link/{token}", handle: s.signInLinkPage},
		{pattern: "POST /login/link/{token}", handle: s.signInLink},
		{pattern: "POST /logout", handle: s.signOut},
		{pattern: "GET /account", perm: auth.Self, page: true, handle: s.pageSelf},
		{pattern: "GET /users", perm: auth.UsersManage, page: true, handle: s.pageUsers},

		// Marketer: contacts, imports, segments, templates, campaigns.
		{pattern: "GET /contacts", perm: auth.ContactsList, page: true, handle: s.pageContacts},
		{pattern: "GET /contacts/{id}", perm: auth.ContactsRead, page: true, handle: s.pageContact},
		{pattern: "GET /imports/new", perm: auth.ContactsWrite, page: true, handle: s.pageImportNew},
		{pattern: "GET /imports/{id}", perm: auth.ContactsRead, page: true, handle: s.pageImport},
		{pattern: "GET /segments", perm: auth.SegmentsRead, page: true, handle: s.pageSegments},
		{pattern: "GET /segments/new", perm: auth.SegmentsWrite, page: true, handle: s.pageSegmentNew},
		{pattern: "GET /segments/{id}", perm: auth.SegmentsRead, page: true, handle: s.pageSegment},
		{pattern: "GET /templates", perm: auth.TemplatesRead, page: true, handle: s.pageTemplates},
		{pattern: "GET /templates/new", perm: auth.TemplatesWrite, page: true, handle: s.pageTemplateNew},
		{pattern: "GET /templates/{id}", perm: auth.TemplatesRead, page: true, handle: s.pageTemplate},
		{pattern: "GET /campaigns", perm: auth.CampaignsRead, page: true, handle: s.pageCampaigns},
		{pattern: "GET /campaigns/new", perm: auth.CampaignsWrite, page: true, handle: s.pageCampaignNew},
		{pattern: "GET /campaigns/{id}", perm: auth.CampaignsRead, page: true, handle: s.pageCampaign},

		// Ops: accounts, pairing, the Cloud API.
		{pattern: "GET /accounts", perm: auth.AccountsRead, page: true, handle: s.pageAccounts},
		{pattern: "GET /accounts/new", perm: auth.AccountsWrite, page: true, handle: s.pageAccountNew},
		{pattern: "GET /accounts/{id}", perm: auth.AccountsRead, page: true, handle: s.pageAccount},
		{pattern: "GET /qr.svg", perm: auth.AccountsWrite, page: true, handle: s.qrSVG},

		// Compliance and agents.
		{pattern: "GET /lookup", perm: auth.ContactsPII, page: true, handle: s.pageLookup},
		{pattern: "GET /suppressions", perm: auth.SuppressionsRead, page: true, handle: s.pageSuppressions},
		{pattern: "GET /audit", perm: auth.AuditRead, page: true, handle: s.pageAudit},
	}
}
