package contacts_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/phonehash"
	"github.com/crierhq/crier/internal/testdb"
)

func ptr[T any](v T) *T { return &v }

func testHasher(t testing.TB) *phonehash.Hasher {
	h, err := phonehash.New(bytes.Repeat([]byte{42}, 32))
	require.NoError(t, err)
	return h
}

func setup(t *testing.T) (*contacts.Service, context.Context) {
	t.Helper()
	t.Parallel()
	return contacts.New(testdb.New(t), testHasher(t), contacts.Options{}), context.Background()
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	svc, ctx := setup(t)

	c, created, err := svc.Upsert(ctx, "9123 4567", "SG", contacts.Fields{
		Name: ptr("Ada Tan"), Locale: ptr("en_sg"), Tags: []string{"VIP", "sale"},
		Attributes: map[string]any{"tier": "gold"},
	})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "+6591234567", c.Phone)
	require.Equal(t, "en-SG", c.Locale)
	require.Equal(t, "SG", c.Country, "the country comes from the number when none is set")
	require.Equal(t, []string{"sale", "vip"}, c.Tags)

	// The same number in another format is the same contact: fields given overwrite,
	// tags are added, attributes merged, and fields not given are kept.
	c2, created, err := svc.Upsert(ctx, "+65 9123-4567", "", contacts.Fields{
		Email: ptr("ada@example.com"), Tags: []string{"new"}, Attributes: map[string]any{"points": 3},
	})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, c.ID, c2.ID)
	require.Equal(t, "Ada Tan", c2.Name)
	require.Equal(t, "ada@example.com", c2.Email)
	require.Equal(t, []string{"new", "sale", "vip"}, c2.Tags)
	require.Equal(t, map[string]any{"tier": "gold", "points": float64(3)}, c2.Attributes)
}

func TestUpsertRejectsBadFieldsAndChangesNothing(t *testing.T) {
	svc, ctx := setup(t)
	_, _, err := svc.Upsert(ctx, "12", "", contacts.Fields{
		Email: ptr("not-an-email"), Timezone: ptr("Mars/Base"), Locale: ptr("!!"), Country: ptr("QQ"),
		Tags: []string{"two words"},
	})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	fields := map[string]bool{}
	for _, f := range apperr.FieldsOf(err) {
		fields[f.Field] = true
	}
	require.Equal(t, map[string]bool{"phone": true, "email": true, "timezone": true, "locale": true, "country": true, "tags": true}, fields)

	list, _, err := svc.List(ctx, contacts.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestUpdateTagsDeleteAndNotFound(t *testing.T) {
	svc, ctx := setup(t)
	c, _, err := svc.Upsert(ctx, "+14155552671", "", contacts.Fields{Tags: []string{"a", "b"}, Attributes: map[string]any{"x": 1, "y": 2}})
	require.NoError(t, err)

	u, err := svc.Update(ctx, c.ID, nil, "", contacts.Fields{
		Name: ptr("Bo"), Country: ptr("CA"), Tags: []string{"z"}, Attributes: map[string]any{"x": nil, "w": true},
	})
	require.NoError(t, err)
	require.Equal(t, "Bo", u.Name)
	require.Equal(t, "CA", u.Country)
	require.Equal(t, []string{"z"}, u.Tags, "PATCH replaces tags")
	require.Equal(t, map[string]any{"y": float64(2), "w": true}, u.Attributes, "null removes a key")

	// Clearing the country falls back to the phone's region.
	u, err = svc.Update(ctx, c.ID, nil, "", contacts.Fields{Country: ptr("")})
	require.NoError(t, err)
	require.Equal(t, "US", u.Country)

	u, err = svc.AddTags(ctx, c.ID, []string{"Y", "x", "z"})
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y", "z"}, u.Tags)
	u, err = svc.RemoveTag(ctx, c.ID, "X")
	require.NoError(t, err)
	require.Equal(t, []string{"y", "z"}, u.Tags)

	// A phone that belongs to someone else is a conflict.
	other, _, err := svc.Upsert(ctx, "+14155552672", "", contacts.Fields{})
	require.NoError(t, err)
	_, err = svc.Update(ctx, other.ID, ptr("+1 415 555 2671"), "", contacts.Fields{})
	require.Equal(t, apperr.Conflict, apperr.CodeOf(err))

	require.NoError(t, svc.Delete(ctx, c.ID))
	_, err = svc.Get(ctx, c.ID)
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
	require.Equal(t, apperr.NotFound, apperr.CodeOf(svc.Delete(ctx, c.ID)))
	_, err = svc.AddTags(ctx, c.ID, []string{"q"})
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err))
}

func TestTagLimit(t *testing.T) {
	svc, ctx := setup(t)
	tags := make([]string, 100)
	for i := range tags {
		tags[i] = "t" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	c, _, err := svc.Upsert(ctx, "+6591234567", "", contacts.Fields{Tags: tags})
	require.NoError(t, err)
	require.Len(t, c.Tags, 100)
	_, err = svc.AddTags(ctx, c.ID, []string{"one-more"})
	require.Equal(t, apperr.Invalid, apperr.CodeOf(err))
	require.Equal(t, "tags", apperr.FieldsOf(err)[0].Field)
}

func TestListFiltersAndPages(t *testing.T) {
	svc, ctx := setup(t)
	for i := range 25 {
		tags := []string{"all"}
		if i%5 == 0 {
			tags = append(tags, "vip")
		}
		_, _, err := svc.Upsert(ctx, "+65912345"+string(rune('0'+i/10))+string(rune('0'+i%10)), "", contacts.Fields{Tags: tags})
		require.NoError(t, err)
	}
	var seen []int64
	var after int64
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		list, next, err := svc.List(ctx, contacts.ListParams{Tag: "ALL", AfterID: after, Limit: 10})
		require.NoError(t, err)
		for _, c := range list {
			seen = append(seen, c.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	require.Len(t, seen, 25)
	require.IsIncreasing(t, seen)

	vip, next, err := svc.List(ctx, contacts.ListParams{Tag: "vip", Limit: 50})
	require.NoError(t, err)
	require.Zero(t, next)
	require.Len(t, vip, 5)

	one, _, err := svc.List(ctx, contacts.ListParams{Phone: "9123 4507", DefaultCountry: "SG", Limit: 50})
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, "+6591234507", one[0].Phone)

	_, _, err = svc.List(ctx, contacts.ListParams{Phone: "garbage", Limit: 50})
	require.Equal(t, "phone", apperr.FieldsOf(err)[0].Field)

	n, err := svc.CountTagged(ctx, []string{"vip"})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
}

func TestPhoneHashFollowsThePhone(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	h := testHasher(t)
	svc := contacts.New(pool, h, contacts.Options{})
	ctx := context.Background()
	c, _, err := svc.Upsert(ctx, "+6591234567", "", contacts.Fields{})
	require.NoError(t, err)
	hashOf := func() []byte {
		var b []byte
		require.NoError(t, pool.QueryRow(ctx, `SELECT phone_hash FROM contacts WHERE id = $1`, c.ID).Scan(&b))
		return b
	}
	require.Equal(t, h.Sum("+6591234567"), hashOf())
	_, err = svc.Update(ctx, c.ID, ptr("+6591234568"), "", contacts.Fields{})
	require.NoError(t, err)
	require.Equal(t, h.Sum("+6591234568"), hashOf())

	// Rows from before the column are backfilled.
	_, err = pool.Exec(ctx, `UPDATE contacts SET phone_hash = NULL`)
	require.NoError(t, err)
	n, err := svc.BackfillPhoneHashes(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, h.Sum("+6591234568"), hashOf())
	n, err = svc.BackfillPhoneHashes(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestGetManyReadsAsGetDoes(t *testing.T) {
	svc, ctx := setup(t)
	a, _, err := svc.Upsert(ctx, "+6591234567", "", contacts.Fields{Name: ptr("Ada"), Tags: []string{"vip"}})
	require.NoError(t, err)
	b, _, err := svc.Upsert(ctx, "+6591234568", "", contacts.Fields{Locale: ptr("fr")})
	require.NoError(t, err)
	got, err := svc.GetMany(ctx, []int64{a.ID, b.ID, 1 << 40})
	require.NoError(t, err)
	require.Len(t, got, 2, "an unknown id is missing")
	for _, id := range []int64{a.ID, b.ID} {
		one, err := svc.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, one, got[id])
	}
	require.Equal(t, "Ada", got[a.ID].Name)
}
