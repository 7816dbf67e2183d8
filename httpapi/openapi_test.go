package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
)

const specPath = "../docs/openapi.yaml"

// loadSpec parses docs/openapi.yaml as OpenAPI 3.1 and returns its model and a validator
// for it.
func loadSpec(t *testing.T) (*v3.Document, validator.Validator) {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	require.Equal(t, "3.1.0", doc.GetVersion())
	model, err := doc.BuildV3Model()
	require.NoError(t, err, "docs/openapi.yaml does not build")
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)
	return &model.Model, v
}

// specRoute is what the spec says about one route.
type specRoute struct {
	perm, action string
}

// extension returns the scalar value of an x- extension, or "".
func extension(ext *orderedmap.Map[string, *yaml.Node], name string) string {
	if n := ext.GetOrZero(name); n != nil {
		return n.Value
	}
	return ""
}

// specRoutes lists the spec's routes in Go ServeMux syntax: "GET /v1/contacts/{id}", and
// "/monitoring/" (every method) for a path item marked x-any-method.
func specRoutes(t *testing.T, model *v3.Document) map[string]specRoute {
	t.Helper()
	out := map[string]specRoute{}
	for path, item := range model.Paths.PathItems.FromOldest() {
		require.Equal(t, strings.HasSuffix(path, "/"), extension(item.Extensions, "x-subtree") == "true",
			"%s: a path ending in / serves its whole subtree in Go's ServeMux: mark it (and only it) x-subtree: true", path)
		for method, op := range item.GetOperations().FromOldest() {
			out[strings.ToUpper(method)+" "+path] = specRoute{
				perm: extension(op.Extensions, "x-permission"), action: extension(op.Extensions, "x-audit-action")}
		}
		if n := item.Extensions.GetOrZero("x-any-method"); n != nil {
			var anyMethod struct {
				Perm   string `yaml:"x-permission"`
				Action string `yaml:"x-audit-action"`
			}
			require.NoError(t, n.Decode(&anyMethod), "%s: x-any-method", path)
			out[path] = specRoute{perm: anyMethod.Perm, action: anyMethod.Action}
		}
	}
	return out
}

// TestOpenAPIValid checks docs/openapi.yaml against the OpenAPI 3.1 schema.
func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	_, v := loadSpec(t)
	ok, errs := v.ValidateDocument()
	for _, e := range errs {
		t.Errorf("docs/openapi.yaml: %s", describe(e))
	}
	require.True(t, ok)
}

// TestOpenAPIMatchesRoutes holds docs/openapi.yaml to the route table: every route of the
// router is in the spec and every operation of the spec is a route, with the same
// permission (x-permission) and audit action (x-audit-action).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	model, _ := loadSpec(t)
	router := routerRoutes()
	require.NotEmpty(t, router)
	spec := specRoutes(t, model)
	for _, problem := range compareRoutes(spec, router) {
		t.Error(problem)
	}
}

// routerRoutes lists the route table.
func routerRoutes() map[string]specRoute {
	out := map[string]specRoute{}
	for _, rt := range httpapi.New(httpapi.Deps{}, httpapi.Options{}).Routes() {
		out[rt.Pattern] = specRoute{perm: rt.Perm, action: rt.Action}
	}
	return out
}

// compareRoutes says how the spec's routes and the router's differ, sorted.
func compareRoutes(spec, router map[string]specRoute) []string {
	var problems []string
	for pattern, rt := range router {
		got, ok := spec[pattern]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("route %q is not in docs/openapi.yaml", pattern))
		case got.perm != rt.perm:
			problems = append(problems, fmt.Sprintf("%s: x-permission is %q, routes.go says %q", pattern, got.perm, rt.perm))
		case got.action != rt.action:
			problems = append(problems, fmt.Sprintf("%s: x-audit-action is %q, routes.go says %q", pattern, got.action, rt.action))
		}
	}
	for pattern := range spec {
		if _, ok := router[pattern]; !ok {
			problems = append(problems, fmt.Sprintf("docs/openapi.yaml has %q, which is not a route of httpapi/routes.go", pattern))
		}
	}
	slices.Sort(problems)
	return problems
}

// TestOpenAPIExamples checks every example request of docs/openapi.yaml against the spec
// (path, query and body), sends it to a real server as an admin, and checks that the
// server does not refuse it as malformed or invalid, and that its answer matches the
// spec's response.
func TestOpenAPIExamples(t *testing.T) {
	b, templateID, accountID := setupCampaigns(t)
	model, v := loadSpec(t)

	// The examples name contact 1, template 1, account 1 (a sandbox account) and campaign 1:
	// a fresh database gives these ids to the first rows.
	require.Equal(t, []int64{1, 1}, []int64{templateID, accountID}, "the examples assume template 1 and account 1")
	fixture := func(path string, body any) int64 {
		t.Helper()
		res := b.do(t, auth.Admin, "POST", path, body)
		require.Equal(t, 201, res.status, "POST %s: %s", path, res.body)
		id := int64(res.json(t)["id"].(float64))
		require.Equal(t, int64(1), id, "POST %s: the examples assume the first row has id 1", path)
		return id
	}
	ids := map[string]int64{
		"contacts":  fixture("/v1/contacts", map[string]any{"phone": "+6591234567", "name": "Ada Tan", "tags": []string{"vip"}}),
		"templates": templateID,
		"accounts":  accountID,
		"channels":  accountID, // a sandbox account: its webhook URL is not found
	}
	ids["campaigns"] = fixture("/v1/campaigns", map[string]any{"name": "Fixture", "template_id": templateID,
		"account_ids": []int64{accountID}, "audience": map[string]any{"tags_any": []string{"vip"}}})
	params := strings.NewReplacer("{tag}", "vip", "{phone}", url.PathEscape("+6591234999"))

	examples := 0
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			method = strings.ToUpper(method)
			name := method + " " + path
			if op.RequestBody == nil {
				continue
			}
			require.NotZero(t, op.RequestBody.Content.Len(), "%s: a request body without content", name)
			for mediaType, content := range op.RequestBody.Content.FromOldest() {
				require.NotZero(t, orderedmap.Len(content.Examples), "%s: give an example %s request body", name, mediaType)
				for exName, ex := range content.Examples.FromOldest() {
					body := exampleBody(t, name+" "+exName, mediaType, ex.Value)
					target := path
					if family, _, ok := strings.Cut(strings.TrimPrefix(path, "/v1/"), "/"); ok {
						target = strings.ReplaceAll(target, "{id}", fmt.Sprint(ids[family]))
					}
					target = params.Replace(target) + exampleQuery(t, item, op)
					t.Run(name+" "+exName, func(t *testing.T) {
						req := exampleRequest(t, b, method, target, mediaType, body)
						ok, errs := v.ValidateHttpRequestSync(req)
						for _, e := range errs {
							t.Errorf("the example does not match the spec: %s", describe(e))
						}
						require.True(t, ok)

						req = exampleRequest(t, b, method, target, mediaType, body)
						resp, err := http.DefaultClient.Do(req)
						require.NoError(t, err)
						defer resp.Body.Close()
						got, err := io.ReadAll(resp.Body)
						require.NoError(t, err)
						require.NotContains(t, []int{400, 413, 415, 422}, resp.StatusCode, "the server refused the example: %s", got)
						t.Logf("%s %s → %d", method, target, resp.StatusCode)

						resp.Body = io.NopCloser(bytes.NewReader(got))
						ok, errs = v.ValidateHttpResponse(req, resp)
						for _, e := range errs {
							t.Errorf("the answer does not match the spec: %s\n%s", describe(e), got)
						}
						require.True(t, ok)
					})
					examples++
				}
			}
		}
	}
	require.Greater(t, examples, 20, "the spec's example requests")
}

// exampleQuery returns the query string made of the examples of the operation's query
// parameters: "?default_country=SG&tags=spring,imported", or "".
func exampleQuery(t *testing.T, item *v3.PathItem, op *v3.Operation) string {
	t.Helper()
	q := url.Values{}
	for _, p := range slices.Concat(item.Parameters, op.Parameters) {
		if p.In != "query" || p.Example == nil {
			continue
		}
		var v string
		require.NoError(t, p.Example.Decode(&v), "the example of query parameter %s", p.Name)
		q.Set(p.Name, v)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// describe spells out a validation error with each schema failure's place.
func describe(e *valerrors.ValidationError) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %s", e.Message, e.Reason)
	for _, f := range e.SchemaValidationErrors {
		fmt.Fprintf(&sb, "\n\t%s: %s (%s, line %d)", f.FieldPath, f.Reason, f.KeywordLocation, f.Line)
	}
	return sb.String()
}

// exampleBody encodes an example's value as the body of its media type.
func exampleBody(t *testing.T, name, mediaType string, value *yaml.Node) []byte {
	t.Helper()
	require.NotNil(t, value, "%s: the example has no value", name)
	var v any
	require.NoError(t, value.Decode(&v), name)
	if s, ok := v.(string); ok && !strings.Contains(mediaType, "json") {
		return []byte(s)
	}
	out, err := json.Marshal(v)
	require.NoError(t, err, name)
	return out
}

func exampleRequest(t *testing.T, b *testBundle, method, target, mediaType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+target, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", mediaType)
	req.Header.Set("Authorization", "Bearer "+b.keys[auth.Admin])
	return req
}

// TestOpenAPIMismatchFails shows that the route check catches a spec that lacks a route,
// has one too many, or disagrees on a permission or an audit action. The router here is
// the spec's own routes, so that only the planted differences show.
func TestOpenAPIMismatchFails(t *testing.T) {
	t.Parallel()
	model, _ := loadSpec(t)
	router := specRoutes(t, model)
	require.Contains(t, router, "/monitoring/", "x-any-method is read")
	require.Equal(t, specRoute{perm: "contacts:write", action: "contact.upsert"}, router["POST /v1/contacts"])
	require.Empty(t, compareRoutes(specRoutes(t, model), router))

	model.Paths.PathItems.Delete("/v1/audit")
	require.Equal(t, []string{`route "GET /v1/audit" is not in docs/openapi.yaml`},
		compareRoutes(specRoutes(t, model), router))

	spec := specRoutes(t, model)
	spec["GET /v1/audit"] = router["GET /v1/audit"]
	spec["GET /v1/nothing"] = specRoute{}
	spec["POST /v1/contacts"] = specRoute{perm: "contacts:read", action: "contact.upsert"}
	spec["GET /v1/contacts/{id}"] = specRoute{perm: "contacts:read", action: "contact.read"}
	require.Equal(t, []string{
		`GET /v1/contacts/{id}: x-audit-action is "contact.read", routes.go says ""`,
		`POST /v1/contacts: x-permission is "contacts:read", routes.go says "contacts:write"`,
		`docs/openapi.yaml has "GET /v1/nothing", which is not a route of httpapi/routes.go`,
	}, compareRoutes(spec, router))
}
