package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

func TestSegmentAPI(t *testing.T) {
	b, tpl, acc := setupCampaigns(t)
	ctx := context.Background()
	for i, phone := range []string{"+6591230001", "+6591230002", "+6591230003"} {
		id := b.createContact(t, phone)
		tier := []string{"gold", "gold", "silver"}[i]
		res := b.do(t, auth.Admin, "PATCH", fmt.Sprintf("/v1/contacts/%d", id), map[string]any{"attributes": map[string]any{"tier": tier, "score": 10 * i}})
		require.Equal(t, 200, res.status, "%s", res.body)
		if i != 1 {
			_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
				Actor: "test", Evidence: map[string]any{"form": "signup"}})
			require.NoError(t, err)
		}
	}

	// Strict decoding and field paths.
	res := b.do(t, auth.Marketer, "POST", "/v1/segments", map[string]any{"name": "Gold",
		"filter": map[string]any{"attributes": []map[string]any{{"key": "tier", "op": "eq", "value": "gold"}, {"key": "score", "op": "gt", "value": "soon"}}}})
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "filter.attributes[1].value")
	res = b.do(t, auth.Marketer, "POST", "/v1/segments", map[string]any{"name": "Gold",
		"filter": map[string]any{"tags_any": []string{"x"}, "tier": "gold"}})
	require.Equal(t, 422, res.status, "unknown fields are refused: %s", res.body)
	require.Equal(t, "is not a known field", res.fieldErrors(t)["tier"])
	res = b.do(t, auth.Ops, "POST", "/v1/segments", map[string]any{"name": "Gold", "filter": map[string]any{"countries": []string{"SG"}}})
	require.Equal(t, 403, res.status)

	// Create, list, get with its count, patch.
	res = b.do(t, auth.Marketer, "POST", "/v1/segments", map[string]any{"name": "Gold", "description": "best",
		"filter": map[string]any{"attributes": []map[string]any{{"key": "tier", "op": "eq", "value": "gold"}}}})
	require.Equal(t, 201, res.status, "%s", res.body)
	sg := res.json(t)
	id := int64(sg["id"].(float64))
	path := fmt.Sprintf("/v1/segments/%d", id)
	require.Equal(t, path, res.header.Get("Location"))
	require.Nil(t, sg["count"])
	res = b.do(t, auth.Marketer, "POST", "/v1/segments", map[string]any{"name": "gold", "filter": map[string]any{"countries": []string{"SG"}}})
	require.Equal(t, 422, res.status)
	require.Contains(t, res.fieldErrors(t), "name")
	res = b.do(t, auth.Ops, "GET", "/v1/segments", nil)
	require.Equal(t, 200, res.status)
	require.Len(t, res.json(t)["data"], 1)
	res = b.do(t, auth.Ops, "GET", path, nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, map[string]any{"matched": float64(2), "eligible": float64(1), "excluded": map[string]any{"no_consent": float64(1)}},
		res.json(t)["count"])
	res = b.do(t, auth.Marketer, "PATCH", path, map[string]any{"filter": map[string]any{
		"attributes": []map[string]any{{"key": "score", "op": "gte", "value": 0}}, "countries": []string{"sg"}}})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "best", res.json(t)["description"])
	require.Equal(t, []any{"SG"}, res.json(t)["filter"].(map[string]any)["countries"])

	// A campaign on the segment: audience {"segment_id": N}; the launch matches the preview.
	res = b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{"name": "Sale", "template_id": tpl,
		"account_ids": []int64{acc}, "audience": map[string]any{"segment_id": id, "tags_any": []string{"x"}}})
	require.Equal(t, 422, res.status, "segment_id and a filter: %s", res.body)
	res = b.do(t, auth.Marketer, "POST", "/v1/campaigns", map[string]any{"name": "Sale", "template_id": tpl,
		"account_ids": []int64{acc}, "audience": map[string]any{"segment_id": id}})
	require.Equal(t, 201, res.status, "%s", res.body)
	c := res.json(t)
	require.Equal(t, map[string]any{"segment_id": float64(id)}, c["audience"])
	cpath := fmt.Sprintf("/v1/campaigns/%v", c["id"])
	res = b.do(t, auth.Marketer, "POST", cpath+"/preview", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.EqualValues(t, 3, res.json(t)["matched"])
	res = b.do(t, auth.Marketer, "POST", cpath+"/schedule", nil)
	require.Equal(t, 200, res.status, "%s", res.body)

	// In use by a scheduled campaign: 409 naming it; once cancelled, 204.
	res = b.do(t, auth.Marketer, "DELETE", path, nil)
	require.Equal(t, 409, res.status, "%s", res.body)
	require.Contains(t, res.json(t)["detail"], fmt.Sprintf("(%v)", c["id"]))
	res = b.do(t, auth.Marketer, "POST", cpath+"/cancel", nil)
	require.Equal(t, 200, res.status, "%s", res.body)
	res = b.do(t, auth.Marketer, "DELETE", path, nil)
	require.Equal(t, 204, res.status, "%s", res.body)
	res = b.do(t, auth.Ops, "GET", path, nil)
	require.Equal(t, 404, res.status)
}
