package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/httpapi"
)

func TestContactCreateUpdateAndMasking(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/contacts?default_country=SG", map[string]any{
		"phone": "9123 4567", "name": "Ada", "email": "ada@example.com", "timezone": "Asia/Singapore",
		"locale": "en-sg", "tags": []string{"VIP"}, "attributes": map[string]any{"tier": "gold"},
	})
	require.Equal(t, 201, res.status, "%s", res.body)
	c := res.json(t)
	require.Equal(t, "+6591234567", c["phone"])
	require.Equal(t, "en-SG", c["locale"])
	require.Equal(t, "SG", c["country"])
	require.Equal(t, []any{"vip"}, c["tags"])
	id := int64(c["id"].(float64))
	require.Equal(t, fmt.Sprintf("/v1/contacts/%d", id), res.header.Get("Location"))

	res = b.do(t, auth.Marketer, "POST", "/v1/contacts", map[string]any{"phone": "+6591234567", "name": "Ada Tan"})
	require.Equal(t, 200, res.status, "the same phone updates")
	c = res.json(t)
	require.Equal(t, "Ada Tan", c["name"])
	require.Equal(t, "+65••••••67", c["phone"], "marketers see masked phones")
	require.Equal(t, "a•••@example.com", c["email"])

	path := fmt.Sprintf("/v1/contacts/%d", id)
	require.Equal(t, "+6591234567", b.do(t, auth.Agent, "GET", path, nil).json(t)["phone"], "agents see phones")
	require.Equal(t, "+65••••••67", b.do(t, auth.Ops, "GET", path, nil).json(t)["phone"])

	res = b.do(t, auth.Admin, "PATCH", path, map[string]any{"tags": []string{"a", "b"}, "attributes": map[string]any{"tier": nil}})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, []any{"a", "b"}, res.json(t)["tags"])
	require.Equal(t, map[string]any{}, res.json(t)["attributes"])

	res = b.do(t, auth.Admin, "POST", path+"/tags", map[string]any{"tags": []string{"C"}})
	require.Equal(t, []any{"a", "b", "c"}, res.json(t)["tags"])
	res = b.do(t, auth.Admin, "DELETE", path+"/tags/a", nil)
	require.Equal(t, []any{"b", "c"}, res.json(t)["tags"])

	require.Equal(t, 204, b.do(t, auth.Admin, "DELETE", path, nil).status)
	res = b.do(t, auth.Admin, "GET", path, nil)
	require.Equal(t, 404, res.status)
	require.Equal(t, "urn:crier:problem:not-found", res.json(t)["type"])
	require.Equal(t, 404, b.do(t, auth.Admin, "GET", "/v1/contacts/abc", nil).status)
}

func TestContactValidationProblems(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{
		"phone": "12345", "email": "nope", "timezone": "Moon/Base", "locale": "??", "tags": []string{"a b"},
	})
	require.Equal(t, 422, res.status)
	fields := res.fieldErrors(t)
	require.Contains(t, fields["phone"], "no country code")
	require.Contains(t, fields, "email")
	require.Contains(t, fields["timezone"], "IANA")
	require.Contains(t, fields["locale"], "BCP 47")
	require.Contains(t, fields, "tags")

	res = b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"name": "x"})
	require.Equal(t, "is required", res.fieldErrors(t)["phone"])

	res = b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": "+6591234567", "nmae": "typo"})
	require.Equal(t, 422, res.status)
	require.Equal(t, "is not a known field", res.fieldErrors(t)["nmae"])

	res = b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": 6591234567})
	require.Equal(t, "must be a string, not number", res.fieldErrors(t)["phone"])

	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(`{"phone": "+6591234567"`))
	require.Equal(t, 400, res.status)
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(`{"phone": "+6591234567"} {}`))
	require.Equal(t, 400, res.status)
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(``))
	require.Equal(t, 400, res.status)
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(`{"phone":"+6591234567"}`), "Content-Type", "text/plain")
	require.Equal(t, 415, res.status)
	res = b.do(t, auth.Admin, "POST", "/v1/contacts", []byte(`{"name":"`+strings.Repeat("x", 2<<20)+`"}`))
	require.Equal(t, 413, res.status)

	// Nothing of the above was created.
	res = b.do(t, auth.Admin, "GET", "/v1/contacts", nil)
	require.Empty(t, res.json(t)["data"])
}

func TestContactListPagesAndFilters(t *testing.T) {
	b := setup(t)
	for i := range 7 {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		res := b.do(t, auth.Admin, "POST", "/v1/contacts", map[string]any{"phone": fmt.Sprintf("+659123456%d", i), "tags": tags})
		require.Equal(t, 201, res.status)
	}
	var phones []string
	path := "/v1/contacts?limit=3&tag=all"
	for range 5 {
		page := b.do(t, auth.Compliance, "GET", path, nil).json(t)
		for _, c := range page["data"].([]any) {
			phones = append(phones, c.(map[string]any)["phone"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			require.Nil(t, page["next_cursor"])
			break
		}
		path = "/v1/contacts?limit=3&tag=all&cursor=" + next
	}
	require.Len(t, phones, 7)
	require.Equal(t, "+6591234560", phones[0])

	page := b.do(t, auth.Admin, "GET", "/v1/contacts?tag=even", nil).json(t)
	require.Len(t, page["data"], 4)
	page = b.do(t, auth.Admin, "GET", "/v1/contacts?phone=91234563&default_country=SG", nil).json(t)
	require.Len(t, page["data"], 1)

	res := b.do(t, auth.Admin, "GET", "/v1/contacts?limit=0&cursor=zzz", nil)
	require.Equal(t, 422, res.status)
	require.Len(t, res.fieldErrors(t), 2)
}

func TestContactImportOverHTTP(t *testing.T) {
	b := setup(t)
	file := "phone,name,tags,consent\n+6591234567,Ada,vip,yes\n+6591234567,Ada Tan,,yes\nnot-a-phone,X,,\n+6591234568,Bo,,\n"
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import?consent_source=shop+signup&tags=spring,imported", file)
	require.Equal(t, 200, res.status, "%s", res.body)
	out := res.json(t)
	require.Equal(t, float64(2), out["created"])
	require.Equal(t, float64(4), out["rows"])
	require.Equal(t, []any{map[string]any{"line": float64(4), "field": "phone", "error": "phone is not a phone number"}}, out["rejected"])
	require.Equal(t, []any{map[string]any{"line": float64(2), "replaced_by": float64(3)}}, out["duplicates"])

	page := b.do(t, auth.Admin, "GET", "/v1/contacts?tag=imported", nil).json(t)
	require.Len(t, page["data"], 2)

	res = b.do(t, auth.Marketer, "POST", "/v1/contacts/import", map[string]any{"phone": "+6591234567"})
	require.Equal(t, 415, res.status)
	res = b.do(t, auth.Marketer, "POST", "/v1/contacts/import", "phone,consent\n+6591234567,yes\n")
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "consent_source")
}

func TestImportSizeLimit(t *testing.T) {
	b := setup(t, httpapi.Options{MaxImportBytes: 1000})
	var sb strings.Builder
	sb.WriteString("phone\n")
	for i := range 200 {
		fmt.Fprintf(&sb, "+6591%06d\n", i)
	}
	res := b.do(t, auth.Admin, "POST", "/v1/contacts/import", sb.String())
	require.Equal(t, 413, res.status, "%s", res.body)
	require.Empty(t, b.do(t, auth.Admin, "GET", "/v1/contacts", nil).json(t)["data"], "nothing was imported")
}
