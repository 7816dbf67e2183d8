package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
)

// TestSegmentCountAPI counts a filter that is not saved: the same count as a saved
// segment's, field errors under filter., segments:read is enough, nothing is stored or
// audited.
func TestSegmentCountAPI(t *testing.T) {
	b, _, _ := setupCampaigns(t)
	ctx := context.Background()
	for i, phone := range []string{"+6591240001", "+6591240002", "+6591240003"} {
		id := b.createContact(t, phone)
		tags := [][]string{{"vip"}, {"vip", "staff"}, {"vip"}}[i]
		res := b.do(t, auth.Admin, "POST", fmt.Sprintf("/v1/contacts/%d/tags", id), map[string]any{"tags": tags})
		require.Equal(t, 200, res.status, "%s", res.body)
		if i != 2 {
			_, err := b.consent.Record(ctx, consent.Change{ContactID: id, Status: consent.Granted, Source: consent.SourceForm,
				Actor: "test", Evidence: map[string]any{"form": "signup"}})
			require.NoError(t, err)
		}
	}
	filter := map[string]any{"tags_any": []string{"vip"}, "exclude_tags": []string{"staff"}}

	res := b.do(t, auth.Ops, "POST", "/v1/segments/count", map[string]any{"filter": filter})
	require.Equal(t, 200, res.status, "ops may read segments, so count one: %s", res.body)
	want := map[string]any{"matched": float64(3), "eligible": float64(1),
		"excluded": map[string]any{"excluded_tag": float64(1), "no_consent": float64(1)}}
	require.Equal(t, want, res.json(t))

	// The same as the saved segment's count.
	res = b.do(t, auth.Marketer, "POST", "/v1/segments", map[string]any{"name": "VIP", "filter": filter})
	require.Equal(t, 201, res.status, "%s", res.body)
	res = b.do(t, auth.Marketer, "GET", fmt.Sprintf("/v1/segments/%v", res.json(t)["id"]), nil)
	require.Equal(t, want, res.json(t)["count"])

	// Bad filters: the paths a segment's save would name.
	res = b.do(t, auth.Marketer, "POST", "/v1/segments/count", map[string]any{})
	require.Equal(t, 422, res.status, "%s", res.body)
	require.Contains(t, res.fieldErrors(t), "filter")
	res = b.do(t, auth.Marketer, "POST", "/v1/segments/count", map[string]any{"filter": map[string]any{"exclude_tags": []string{"staff"}}})
	require.Equal(t, 422, res.status, "no positive condition: %s", res.body)
	require.Contains(t, res.fieldErrors(t)["filter"], "give at least one of")
	res = b.do(t, auth.Marketer, "POST", "/v1/segments/count", map[string]any{"filter": map[string]any{
		"countries": []string{"XX"}, "attributes": []map[string]any{{"key": "tier", "op": "gt", "value": "soon"}}}})
	require.Equal(t, 422, res.status, "%s", res.body)
	errs := res.fieldErrors(t)
	require.Contains(t, errs, "filter.countries[0]")
	require.Contains(t, errs, "filter.attributes[0].value")
	res = b.do(t, auth.Marketer, "POST", "/v1/segments/count", map[string]any{"filter": filter, "name": "x"})
	require.Equal(t, 422, res.status, "unknown fields are refused: %s", res.body)

	// Who may count: segments:read.
	res = b.do(t, auth.Agent, "POST", "/v1/segments/count", map[string]any{"filter": filter})
	require.Equal(t, 403, res.status)
	page := b.page(t, auth.Marketer, "POST", "/v1/segments/count", map[string]any{"filter": filter})
	require.Equal(t, 200, page.status, "the console's session with its CSRF token: %s", page.body)

	// Nothing stored, nothing audited.
	var segments, audited int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM segments`).Scan(&segments))
	require.Equal(t, 1, segments)
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action LIKE 'segment.%' AND action <> 'segment.create'`).Scan(&audited))
	require.Zero(t, audited)
}
