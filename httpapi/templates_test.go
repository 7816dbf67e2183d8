package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

func TestTemplateCreateGetUpdateList(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Marketer, "POST", "/v1/templates", map[string]any{
		"name": "Spring sale", "category": "marketing",
		"locales": []any{
			map[string]any{"locale": "en", "variants": []any{
				map[string]any{"body": "{Hi|Hello} {{ first_name | default: 'there' }}, spring sale!", "weight": 2},
				map[string]any{"body": "Hey {{ first_name }}: 20% off {{ campaign.name }}"},
			}},
			map[string]any{"locale": "es", "variants": []any{map[string]any{"body": "¡Hola {{ first_name }}!"}}},
		},
	})
	require.Equal(t, 201, res.status, "%s", res.body)
	tpl := res.json(t)
	id := int64(tpl["id"].(float64))
	require.Equal(t, fmt.Sprintf("/v1/templates/%d", id), res.header.Get("Location"))
	locales := tpl["locales"].([]any)
	en := locales[0].(map[string]any)
	require.Equal(t, "Reply STOP to unsubscribe.", en["footer"], "marketing gets the default opt-out footer")
	require.Equal(t, float64(1), en["variants"].([]any)[1].(map[string]any)["weight"], "weight defaults to 1")
	require.Contains(t, locales[1].(map[string]any)["footer"], "BAJA")
	require.Equal(t, float64(1), tpl["version"])

	path := fmt.Sprintf("/v1/templates/%d", id)
	require.Equal(t, "Spring sale", b.do(t, auth.Ops, "GET", path, nil).json(t)["name"])

	// The single-locale shorthand.
	res = b.do(t, auth.Marketer, "PUT", path, map[string]any{
		"name": "Spring sale", "category": "marketing", "locale": "en",
		"variants": []any{map[string]any{"body": "Hi {{ name }}"}}, "footer": "Text STOP to opt out.",
	})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, float64(2), res.json(t)["version"])
	require.Equal(t, "Text STOP to opt out.", res.json(t)["locales"].([]any)[0].(map[string]any)["footer"])

	res = b.do(t, auth.Marketer, "POST", "/v1/templates", map[string]any{
		"name": "spring SALE", "category": "utility", "variants": []any{map[string]any{"body": "x"}},
	})
	require.Equal(t, 409, res.status, "names are unique, whatever their case")
	require.Contains(t, res.fieldErrors(t), "name")

	page := b.do(t, auth.Marketer, "GET", "/v1/templates?limit=10", nil).json(t)
	require.Len(t, page["data"], 1)
	require.Equal(t, 403, b.do(t, auth.Ops, "PUT", path, map[string]any{}).status)
}

func TestTemplateValidationPointsAtTheField(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{
		"name": "Bad", "category": "marketing",
		"locales": []any{
			map[string]any{"locale": "en", "variants": []any{
				map[string]any{"body": "Hi {{ nmae }}"},
				map[string]any{"body": "{Hi|Hello"},
				map[string]any{"body": "", "weight": 0},
			}, "footer": "Thanks for reading"},
		},
	})
	require.Equal(t, 422, res.status, "%s", res.body)
	fields := res.fieldErrors(t)
	require.Contains(t, fields["locales[0].variants[0].body"], "nmae")
	require.Contains(t, fields["locales[0].variants[1].body"], "line 1")
	require.Contains(t, fields, "locales[0].variants[2].body")
	require.Contains(t, fields, "locales[0].variants[2].weight")
	require.Contains(t, fields, "locales[0].footer", "a marketing footer must offer an opt-out")

	// With the shorthand, the paths are the shorthand's.
	res = b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{
		"name": "Bad", "category": "promo", "variants": []any{map[string]any{"body": "{% if %}"}},
	})
	require.Equal(t, 422, res.status)
	fields = res.fieldErrors(t)
	require.Contains(t, fields, "category")
	require.Contains(t, fields, "variants[0].body")

	res = b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{
		"name": "Both", "category": "utility", "locale": "en", "locales": []any{},
	})
	require.Contains(t, res.fieldErrors(t), "locales")
	require.Empty(t, b.do(t, auth.Admin, "GET", "/v1/templates", nil).json(t)["data"], "nothing was saved")
}

func TestTemplatePreview(t *testing.T) {
	b := setup(t)
	res := b.do(t, auth.Admin, "POST", "/v1/templates", map[string]any{
		"name": "Welcome", "category": "marketing", "locale": "en",
		"variants": []any{
			map[string]any{"body": "{Hi|Hello|Hey} {{ first_name }}! Your email: {{ email }}"},
			map[string]any{"body": "Welcome, {{ name }} ({{ attributes.tier | default: 'basic' }})"},
		},
	})
	require.Equal(t, 201, res.status, "%s", res.body)
	path := fmt.Sprintf("/v1/templates/%v/preview", res.json(t)["id"])

	res = b.do(t, auth.Marketer, "POST", path, map[string]any{
		"variables": map[string]any{"name": "Ada Tan", "email": "ada@example.com", "attributes": map[string]any{"tier": "gold"}},
		"spins":     3,
	})
	require.Equal(t, 200, res.status, "%s", res.body)
	p := res.json(t)
	require.Equal(t, "en", p["locale"])
	variants := p["variants"].([]any)
	require.Len(t, variants, 2)
	v0 := variants[0].(map[string]any)
	require.Equal(t, []any{"email", "first_name"}, v0["variables"])
	require.Equal(t, float64(3), v0["spins"])
	samples := v0["samples"].([]any)
	require.Len(t, samples, 3)
	first := samples[0].(map[string]any)
	require.Regexp(t, `^(Hi|Hello|Hey) Ada! Your email: ada@example.com\n\nReply STOP to unsubscribe.$`, first["text"])
	require.Equal(t, float64(len([]rune(first["text"].(string)))), first["length"])
	require.Contains(t, variants[1].(map[string]any)["samples"].([]any)[0].(map[string]any)["text"], "Welcome, Ada Tan (gold)")

	// For a contact: a marketer sees the contact's email masked in the preview too.
	id := b.createContact(t, "+6591234567")
	b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/contacts/%d", id), map[string]any{"name": "Bo Lim", "email": "bo@example.com"})
	res = b.do(t, auth.Marketer, "POST", path, map[string]any{"contact_id": id})
	require.Equal(t, 200, res.status, "%s", res.body)
	text := res.json(t)["variants"].([]any)[0].(map[string]any)["samples"].([]any)[0].(map[string]any)["text"]
	require.Contains(t, text, "Bo! Your email: b•••@example.com")

	require.Equal(t, 422, b.do(t, auth.Marketer, "POST", path, map[string]any{}).status)
	require.Equal(t, 422, b.do(t, auth.Marketer, "POST", path, map[string]any{"contact_id": 999999}).status)
	res = b.do(t, auth.Marketer, "POST", path, map[string]any{"variables": map[string]any{"nmae": "x"}})
	require.Equal(t, "is not a known field", res.fieldErrors(t)["nmae"])
}
