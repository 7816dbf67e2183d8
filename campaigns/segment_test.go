package campaigns_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/campaigns"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// fieldsOf returns the field paths of an Invalid error.
func fieldsOf(t *testing.T, err error) map[string]bool {
	t.Helper()
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
	out := map[string]bool{}
	for _, f := range apperr.FieldsOf(err) {
		out[f.Field] = true
	}
	return out
}

func TestFilterValidation(t *testing.T) {
	b := setup(t) // parallel
	ctx := context.Background()
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	long := string(make([]rune, 65))
	for _, tc := range []struct {
		name   string
		a      campaigns.Audience
		fields []string
	}{
		{"empty", campaigns.Audience{}, []string{"audience"}},
		{"only exclusions and days", campaigns.Audience{ExcludeTags: []string{"x"}, ConsentWithinDays: 3, EngagedWithinDays: 3}, []string{"audience"}},
		{"segment and filter", campaigns.Audience{SegmentID: 1, TagsAny: []string{"x"}}, []string{"audience"}},
		{"bad ops and values", campaigns.Audience{TagsAny: []string{"x"}, Attributes: []campaigns.Condition{
			{Key: "tier", Op: "like", Value: raw(`"g%"`)},
			{Key: "tier", Op: campaigns.OpEq, Value: raw(`{"a": 1}`)},
			{Key: "tier", Op: campaigns.OpIn, Value: raw(`[]`)},
			{Key: "tier", Op: campaigns.OpIn, Value: raw(`["a", null]`)},
			{Key: "tier", Op: campaigns.OpExists, Value: raw(`"yes"`)},
			{Key: "signup", Op: campaigns.OpGt, Value: raw(`"yesterday"`)},
			{Key: "signup", Op: campaigns.OpLt, Value: raw(`true`)},
			{Key: "", Op: campaigns.OpExists},
			{Key: long, Op: campaigns.OpExists},
			{Key: "tier", Op: campaigns.OpEq},
			{Key: "tier", Op: ""},
		}}, []string{"audience.attributes[0].op", "audience.attributes[1].value", "audience.attributes[2].value",
			"audience.attributes[3].value[1]", "audience.attributes[4].value", "audience.attributes[5].value",
			"audience.attributes[6].value", "audience.attributes[7].key", "audience.attributes[8].key",
			"audience.attributes[9].value", "audience.attributes[10].op"}},
		{"too many conditions", campaigns.Audience{TagsAny: []string{"x"}, Attributes: make([]campaigns.Condition, 21)}, []string{"audience.attributes"}},
		{"countries and locales", campaigns.Audience{Countries: []string{"SG", "XX"}, Locales: []string{"pt-BR", "not a locale!"}},
			[]string{"audience.countries[1]", "audience.locales[1]"}},
		{"days out of range", campaigns.Audience{TagsAny: []string{"x"}, ConsentWithinDays: 3651, EngagedWithinDays: -1},
			[]string{"audience.consent_within_days", "audience.engaged_within_days"}},
		{"engaged and never", campaigns.Audience{TagsAny: []string{"x"}, EngagedWithinDays: 3, NeverEngaged: true},
			[]string{"audience.never_engaged"}},
		{"no such segment", campaigns.Audience{SegmentID: 999}, []string{"audience.segment_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			_, err := b.svc.Create(ctx, campaigns.Input{Name: ptr("c"), TemplateID: &b.template, AccountIDs: []int64{b.account}, Audience: &a}, "test")
			want := map[string]bool{}
			for _, f := range tc.fields {
				want[f] = true
			}
			require.Equal(t, want, fieldsOf(t, err))
		})
	}
	// A segment's filter says "filter", and cannot name a segment.
	_, err := b.svc.CreateSegment(ctx, campaigns.SegmentInput{Name: ptr("s"), Filter: &campaigns.Filter{SegmentID: 3,
		Attributes: []campaigns.Condition{{Key: "k", Op: campaigns.OpGt, Value: raw(`"x"`)}}}}, "test")
	require.Equal(t, map[string]bool{"filter.segment_id": true, "filter.attributes[0].value": true}, fieldsOf(t, err))
	_, err = b.svc.CreateSegment(ctx, campaigns.SegmentInput{Name: ptr(" ")}, "test")
	require.Equal(t, map[string]bool{"name": true, "filter": true}, fieldsOf(t, err))
}

func TestSegments(t *testing.T) {
	b := setup(t) // parallel
	ctx := context.Background()
	gold := campaigns.Filter{TagsAny: []string{"shop"}, Attributes: []campaigns.Condition{
		{Key: "tier", Op: campaigns.OpEq, Value: json.RawMessage(`"gold"`)}}}
	sg, err := b.svc.CreateSegment(ctx, campaigns.SegmentInput{Name: ptr("Gold"), Description: ptr("our best"), Filter: &gold}, "test")
	require.NoError(t, err)
	require.Equal(t, "Gold", sg.Name)
	_, err = b.svc.CreateSegment(ctx, campaigns.SegmentInput{Name: ptr("GOLD"), Filter: &gold}, "test")
	require.Equal(t, map[string]bool{"name": true}, fieldsOf(t, err), "names are unique whatever their case")
	other, err := b.svc.CreateSegment(ctx, campaigns.SegmentInput{Name: ptr("Other"), Filter: &campaigns.Filter{Countries: []string{"sg"}}}, "test")
	require.NoError(t, err)
	require.Equal(t, []string{"SG"}, other.Filter.Countries)

	list, next, err := b.svc.ListSegments(ctx, campaigns.SegmentListParams{Limit: 1})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, sg.ID, list[0].ID)
	list, next, err = b.svc.ListSegments(ctx, campaigns.SegmentListParams{AfterID: next, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, other.ID, list[0].ID)
	require.Zero(t, next)

	// Contacts: two gold (one without consent), one silver.
	attrs := func(phone, tier string) int64 {
		c, _, err := b.contacts.Upsert(ctx, phone, "", contacts.Fields{Tags: []string{"shop"}, Attributes: map[string]any{"tier": tier}})
		require.NoError(t, err)
		return c.ID
	}
	goldOK := attrs("+6591000001", "gold")
	b.grant(t, goldOK)
	attrs("+6591000002", "gold")
	silver := attrs("+6591000003", "silver")
	b.grant(t, silver)

	count, err := b.svc.SegmentCount(ctx, sg.ID)
	require.NoError(t, err)
	require.Equal(t, campaigns.SegmentCount{Matched: 2, Eligible: 1, Excluded: map[string]int64{"no_consent": 1}}, count)

	// A campaign on the segment stores it and its resolved filter.
	c := b.create(t, func(in *campaigns.Input) { in.Audience = &campaigns.Audience{SegmentID: sg.ID} })
	require.Equal(t, sg.ID, c.Audience.SegmentID)
	require.Equal(t, gold.Attributes[0].Key, c.Audience.Attributes[0].Key)

	// Edits reach the campaign: the preview and the launch read the segment as it is now.
	silverOnly := campaigns.Filter{TagsAny: []string{"shop"}, Attributes: []campaigns.Condition{
		{Key: "tier", Op: campaigns.OpIn, Value: json.RawMessage(`["silver"]`)}}}
	sg, err = b.svc.UpdateSegment(ctx, sg.ID, campaigns.SegmentInput{Filter: &silverOnly})
	require.NoError(t, err)
	require.Equal(t, "our best", sg.Description, "fields not given are kept")
	p, err := b.svc.Preview(ctx, c.ID, false)
	require.NoError(t, err)
	require.EqualValues(t, 1, p.Matched)
	require.EqualValues(t, 1, p.Eligible)

	run := b.launch(t, c.ID)
	require.Equal(t, p.Matched, run.Matched, "the launch matches what the preview said")
	require.Equal(t, p.Eligible, run.Eligible)
	ds := b.deliveries(t, run.ID)
	require.Len(t, ds, 1)
	require.Contains(t, ds, silver)

	// In use by a running campaign: the delete is refused, naming it.
	err = b.svc.DeleteSegment(ctx, sg.ID)
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "("+strconv.FormatInt(c.ID, 10)+")")

	// Cancelled, it lets the segment go and keeps the filter it last resolved.
	_, err = b.svc.Cancel(ctx, c.ID, "done")
	require.NoError(t, err)
	require.NoError(t, b.svc.DeleteSegment(ctx, sg.ID))
	_, err = b.svc.GetSegment(ctx, sg.ID)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	require.Equal(t, apperr.NotFound, apperr.CodeOf(b.svc.DeleteSegment(ctx, sg.ID)))
	got, err := b.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, sg.ID, got.Audience.SegmentID)
	require.Equal(t, campaigns.OpIn, got.Audience.Attributes[0].Op, "the copy resolved at the launch")

	// A draft whose segment is gone cannot be scheduled.
	draft := b.create(t, func(in *campaigns.Input) { in.Audience = &campaigns.Audience{SegmentID: other.ID} })
	require.NoError(t, b.svc.DeleteSegment(ctx, other.ID), "a draft does not hold its segment")
	require.Equal(t, map[string]bool{"audience.segment_id": true}, fieldsOf(t, b.svc.Schedule(ctx, draft.ID)))
}
