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
// "/monitoring/" (every method) for a path item marked x-any-method. OpenAPI has no
// subtree paths (and linters refuse a trailing slash), so Go's subtree pattern
// "/monitoring/" is written "/monitoring/{page}" and marked x-subtree: true.
func specRoutes(t *testing.T, model *v3.Document) map[string]specRoute {
	t.Helper()
	out := map[string]specRoute{}
	for path, item := range model.Paths.PathItems.FromOldest() {
		require.False(t, strings.HasSuffix(path, "/"),
			"%s: for a subtree, write the path as /prefix/{param} and mark it x-subtree: true", path)
		pattern := path
		if extension(item.Extensions, "x-subtree") == "true" {
			i := strings.LastIndex(path, "/{")
			require.True(t, i >= 0 && strings.HasSuffix(path, "}") && !strings.Contains(path[i+1:], "/"),
				"%s: an x-subtree path ends in /{param}, which stands for the whole subtree", path)
			pattern = path[:i+1]
		}
		for method, op := range item.GetOperations().FromOldest() {
			out[strings.ToUpper(method)+" "+pattern] = specRoute{
				perm: extension(op.Extensions, "x-permission"), action: extension(op.Extensions, "x-audit-action")}
		}
		if n := item.Extensions.GetOrZero("x-any-method"); n != nil {
			var anyMethod struct {
				Perm   string `yaml:"x-permission"`
				Action string `yaml:"x-audit-action"`
			}
			require.NoError(t, n.Decode(&anyMethod), "%s: x-any-method", path)
			out[pattern] = specRoute{perm: anyMethod.Perm, action: anyMethod.Action}
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

	// The examples name contact 1, template 1, account 1 (a sandbox account), campaign 1 and segment 1:
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
	ids["segments"] = fixture("/v1/segments", map[string]any{"name": "Fixture", "filter": map[string]any{"tags_any": []string{"vip"}}})
	// This server has no outbound webhooks (no secret key): their routes answer 404, and
	// their examples are checked against the spec only.
	ids["webhooks"] = 1
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

// TestOpenAPIKeywords refuses a key that is not a keyword where it stands (see specKeys).
func TestOpenAPIKeywords(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(specPath)
	require.NoError(t, err)
	for _, problem := range specKeys(t, raw) {
		t.Errorf("docs/openapi.yaml: %s", problem)
	}
}

// TestOpenAPIKeywordsFails shows that specKeys catches the bug that libopenapi and its
// validator let through: an unquoted comma in a flow mapping splits a description, and
// its second half becomes a key of the schema or the parameter.
func TestOpenAPIKeywordsFails(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(specPath)
	require.NoError(t, err)
	for _, tc := range []struct{ fixed, broken, want string }{
		{ // the line as it was before issue 19
			fixed:  `phone: {type: string, description: "E.164, or national with default_country"}`,
			broken: `phone: {type: string, description: E.164, or national with default_country}`,
			want:   `"or national with default_country" is not a keyword of a schema`,
		},
		{
			fixed:  `{name: tag, in: query, description: only contacts with this tag, schema: {type: string}}`,
			broken: `{name: tag, in: query, description: only contacts, with this tag, schema: {type: string}}`,
			want:   `"with this tag" is not a keyword of a parameter`,
		},
	} {
		require.Equal(t, 1, bytes.Count(raw, []byte(tc.fixed)), "the spec has %s once", tc.fixed)
		line := 1 + bytes.Count(raw[:bytes.Index(raw, []byte(tc.fixed))], []byte("\n"))
		broken := bytes.Replace(raw, []byte(tc.fixed), []byte(tc.broken), 1)
		problems := specKeys(t, broken)
		require.Len(t, problems, 1, "%v", problems)
		require.Equal(t, fmt.Sprintf("line %d: %s", line, tc.want), problems[0])
	}
}

// Keywords, by the kind of object that holds them (OpenAPI 3.1 and JSON Schema 2020-12).
// x- extensions are allowed everywhere.
var (
	schemaKeywords = keywords(
		// JSON Schema core, applicators, validation, annotations, formats and contents
		"$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment", "$defs",
		"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items",
		"contains", "properties", "patternProperties", "additionalProperties", "propertyNames",
		"unevaluatedItems", "unevaluatedProperties",
		"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
		"maxProperties", "minProperties", "required", "dependentRequired",
		"title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples", "format",
		"contentEncoding", "contentMediaType", "contentSchema",
		// OpenAPI's additions
		"discriminator", "xml", "externalDocs", "example")
	parameterKeywords = keywords("$ref", "name", "in", "description", "required", "deprecated",
		"allowEmptyValue", "style", "explode", "allowReserved", "schema", "example", "examples", "content")
	headerKeywords   = keywords("$ref", "description", "required", "deprecated", "style", "explode", "schema", "example", "examples", "content")
	responseKeywords = keywords("$ref", "summary", "description", "headers", "content", "links")
	pathItemKeywords = keywords("$ref", "summary", "description", "servers", "parameters",
		"get", "put", "post", "delete", "options", "head", "patch", "trace")
	operationKeywords = keywords("tags", "summary", "description", "externalDocs", "operationId", "parameters",
		"requestBody", "responses", "callbacks", "deprecated", "security", "servers")
)

func keywords(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// specKeys walks the spec's YAML and reports each key that is not a keyword of the schema,
// parameter, header, response, path item or operation that holds it: "line 12: "x" is not
// a keyword of a schema". libopenapi ignores such keys, and JSON Schema allows unknown
// ones, so nothing else would see a description cut in two by a comma. Examples,
// defaults, constants and enums are data, and are not walked.
func specKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &root))
	var problems []string
	var walk func(n *yaml.Node, kind string)
	check := func(n *yaml.Node, kind string, allowed map[string]bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			if !allowed[key.Value] && !strings.HasPrefix(key.Value, "x-") {
				problems = append(problems, fmt.Sprintf("line %d: %q is not a keyword of a %s", key.Line, key.Value, kind))
			}
		}
	}
	each := func(n *yaml.Node, kind string) { // the values of a mapping, or the items of a sequence
		switch n.Kind {
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i], kind)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, kind)
			}
		}
	}
	walk = func(n *yaml.Node, kind string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, kind)
			}
			return
		}
		if n.Kind == yaml.SequenceNode && kind == "" {
			each(n, kind)
			return
		}
		if n.Kind != yaml.MappingNode { // a boolean schema, a scalar value
			return
		}
		switch kind {
		case "schema":
			check(n, kind, schemaKeywords)
		case "parameter":
			check(n, kind, parameterKeywords)
		case "header":
			check(n, kind, headerKeywords)
		case "response":
			check(n, kind, responseKeywords)
		case "path item":
			check(n, kind, pathItemKeywords)
		case "operation":
			check(n, kind, operationKeywords)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i].Value, n.Content[i+1]
			switch {
			case strings.HasPrefix(key, "x-"), key == "example", key == "examples", key == "default", key == "const", key == "enum":
			case kind == "schema":
				switch key {
				case "properties", "patternProperties", "$defs", "dependentSchemas", "allOf", "anyOf", "oneOf", "prefixItems":
					each(value, "schema")
				case "items", "not", "if", "then", "else", "contains", "additionalProperties", "propertyNames",
					"unevaluatedItems", "unevaluatedProperties", "contentSchema":
					walk(value, "schema")
				}
			case key == "schema":
				walk(value, "schema")
			case key == "schemas":
				each(value, "schema")
			case key == "parameters":
				each(value, "parameter")
			case key == "headers":
				each(value, "header")
			case key == "responses":
				each(value, "response")
			case key == "paths":
				each(value, "path item")
			case kind == "path item" && pathItemKeywords[key] && key != "servers" && key != "$ref" && key != "summary" && key != "description":
				walk(value, "operation")
			default:
				walk(value, "")
			}
		}
	}
	walk(&root, "")
	return problems
}
