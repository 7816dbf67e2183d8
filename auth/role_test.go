package auth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

var (
	admin      = auth.Admin
	marketer   = auth.Marketer
	ops        = auth.Ops
	agent      = auth.Agent
	compliance = auth.Compliance
)

// allowed is the permission table of DESIGN §5 written out the other way round: for each
// permission, every role that has it. TestCan checks Role.Can against it in both
// directions, so a grant added or lost anywhere fails here.
var allowed = map[auth.Permission][]auth.Role{
	auth.ContactsRead:     {admin, marketer, ops, agent, compliance},
	auth.Self:             {admin, marketer, ops, agent, compliance},
	auth.UsersManage:      {admin},
	auth.ContactsList:     {admin, marketer, ops, compliance}, // an agent looks contacts up one at a time
	auth.ContactsPII:      {admin, agent, compliance},         // a marketer and ops see masked phones
	auth.ContactsWrite:    {admin, marketer},
	auth.ConsentRead:      {admin, marketer, ops, agent, compliance},
	auth.ConsentWithdraw:  {admin, marketer, agent, compliance},
	auth.ConsentWrite:     {admin, agent, compliance},
	auth.ConsentLift:      {admin, compliance}, // only compliance lifts an opt-out
	auth.TemplatesRead:    {admin, marketer, ops},
	auth.TemplatesWrite:   {admin, marketer},
	auth.CampaignsRead:    {admin, marketer, ops},
	auth.CampaignsWrite:   {admin, marketer},
	auth.CampaignsControl: {admin, marketer, ops},
	auth.AccountsRead:     {admin, marketer, ops},
	auth.AccountsWrite:    {admin, ops},
	auth.SuppressionsRead: {admin, compliance},
	auth.SuppressionsEdit: {admin, compliance},
	auth.PrivacyExport:    {admin, compliance},
	auth.PrivacyErase:     {admin, compliance},
	auth.AuditRead:        {admin, compliance},
	auth.Dashboard:        {admin, ops},
	auth.Sandbox:          {admin, marketer, ops},
	auth.SandboxInbound:   {admin}, // it speaks for a customer
	auth.SegmentsRead:     {admin, marketer, ops},
	auth.SegmentsWrite:    {admin, marketer},
	auth.RepliesRead:      {admin, marketer, ops, compliance}, // the text in clear only with ContactsPII
	auth.RepliesHandle:    {admin, marketer},
	auth.WebhooksManage:   {admin}, // an endpoint sends events, and PII if asked, out of Crier
}

func TestCan(t *testing.T) {
	t.Parallel()
	for p, roles := range allowed {
		for _, r := range auth.Roles {
			t.Run(string(r)+"/"+string(p), func(t *testing.T) {
				require.Equal(t, slices.Contains(roles, r), r.Can(p))
			})
		}
	}
}

// TestCanCoversEveryPermission fails when role.go declares a permission that allowed
// does not place, so that a new permission is given its roles here on purpose.
func TestCanCoversEveryPermission(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "role.go", nil, 0)
	require.NoError(t, err)
	var declared []auth.Permission
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Permission" {
				continue
			}
			for _, v := range vs.Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				require.NoError(t, err)
				declared = append(declared, auth.Permission(s))
			}
		}
	}
	require.Len(t, declared, 30, "role.go's Permission constants")
	for _, p := range declared {
		require.Contains(t, allowed, p, "permission %s has no row in allowed", p)
	}
	require.Len(t, allowed, len(declared))
}

func TestCanUnknown(t *testing.T) {
	t.Parallel()
	// Admin may do everything, even what has no name yet.
	require.True(t, admin.Can("campaigns:delete-all"))
	// Nobody else is granted what is not in the table.
	for _, r := range []auth.Role{marketer, ops, agent, compliance} {
		require.False(t, r.Can("campaigns:delete-all"), r)
		require.False(t, r.Can(""), r)
	}
	// A role that is not one of the five has no permission at all; Can does not
	// normalise, so a role must come through ParseRole.
	for _, r := range []auth.Role{"", "root", "ADMIN", " admin", "Compliance"} {
		for p := range allowed {
			require.False(t, r.Can(p), "%q can %s", r, p)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	require.Equal(t, []auth.Role{"admin", "marketer", "ops", "agent", "compliance"}, auth.Roles)
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want auth.Role
		err  string
	}{
		{in: "admin", want: admin},
		{in: "marketer", want: marketer},
		{in: "ops", want: ops},
		{in: "agent", want: agent},
		{in: "compliance", want: compliance},
		{in: "  Compliance\n", want: compliance},
		{in: "OPS", want: ops},
		{in: "", err: `unknown role "": the roles are admin, marketer, ops, agent, compliance`},
		{in: "root", err: `unknown role "root": the roles are admin, marketer, ops, agent, compliance`},
		{in: "admins", err: `unknown role "admins"`},
		{in: "market er", err: `unknown role "market er"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.ParseRole(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Equal(t, auth.Role(""), got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
