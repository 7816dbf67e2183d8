package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crierhq/crier/internal/apperr"
)

// Segment is a saved audience filter. Campaigns that use it read its filter at each
// launch and preview, so a running cron campaign follows later edits.
type Segment struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Filter      Filter    `json:"filter"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SegmentInput is a segment as written: Create needs Name and Filter; Update changes the
// fields that are not nil.
type SegmentInput struct {
	Name        *string
	Description *string
	Filter      *Filter
}

// SegmentCount is a segment's live size: the contacts its filter matches, of which
// eligible would be sent a marketing message on the service's channel now, and the others
// by skip reason (as Preview counts a campaign).
type SegmentCount struct {
	Matched  int64            `json:"matched"`
	Eligible int64            `json:"eligible"`
	Excluded map[string]int64 `json:"excluded"`
}

// Limits on what a segment may hold.
const maxDescriptionLen = 2000

const segmentColumns = `id, name, description, filter, created_by, created_at, updated_at`

func scanSegment(row pgx.Row) (Segment, error) {
	var sg Segment
	var filter []byte
	if err := row.Scan(&sg.ID, &sg.Name, &sg.Description, &filter, &sg.CreatedBy, &sg.CreatedAt, &sg.UpdatedAt); err != nil {
		return Segment{}, err
	}
	if err := json.Unmarshal(filter, &sg.Filter); err != nil {
		return Segment{}, fmt.Errorf("segment %d: filter: %w", sg.ID, err)
	}
	sg.Filter = withEmptyTags(sg.Filter)
	sg.CreatedAt, sg.UpdatedAt = sg.CreatedAt.UTC(), sg.UpdatedAt.UTC()
	return sg, nil
}

// withEmptyTags gives the tag lists '{}' for none, as the audience statements take them.
func withEmptyTags(a Audience) Audience {
	a.TagsAny, a.TagsAll, a.ExcludeTags = orEmpty(a.TagsAny), orEmpty(a.TagsAll), orEmpty(a.ExcludeTags)
	return a
}

// segmentDraft is a segment's editable fields merged from what is stored and an input.
type segmentDraft struct {
	name, description string
	filter            Filter
}

func (d *segmentDraft) apply(in SegmentInput, creating bool) error {
	var errs []apperr.FieldError
	if in.Name != nil {
		d.name = strings.TrimSpace(*in.Name)
		switch {
		case d.name == "":
			errs = append(errs, apperr.FieldError{Field: "name", Message: "is required"})
		case len(d.name) > maxNameLen:
			errs = append(errs, apperr.FieldError{Field: "name", Message: fmt.Sprintf("must be at most %d characters long", maxNameLen)})
		}
	} else if creating {
		errs = append(errs, apperr.FieldError{Field: "name", Message: "is required"})
	}
	if in.Description != nil {
		d.description = strings.TrimSpace(*in.Description)
		if len(d.description) > maxDescriptionLen {
			errs = append(errs, apperr.FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters long", maxDescriptionLen)})
		}
	}
	if in.Filter != nil {
		f, ferrs := normalizeFilter(*in.Filter, "filter")
		d.filter = f
		errs = append(errs, ferrs...)
	} else if creating {
		errs = append(errs, apperr.FieldError{Field: "filter", Message: "is required: give at least one of tags_any, tags_all, attributes, countries or locales"})
	}
	return apperr.Fields(errs...)
}

// CreateSegment validates and stores a segment. Errors: Invalid with field errors (a
// name already taken, whatever its case, is one).
func (s *Service) CreateSegment(ctx context.Context, in SegmentInput, actor string) (Segment, error) {
	var d segmentDraft
	if err := d.apply(in, true); err != nil {
		return Segment{}, err
	}
	filter, err := json.Marshal(d.filter)
	if err != nil {
		return Segment{}, err
	}
	sg, err := scanSegment(s.pool.QueryRow(ctx, `
		INSERT INTO segments (name, description, filter, created_by) VALUES ($1, $2, $3, $4)
		RETURNING `+segmentColumns, d.name, d.description, filter, actor))
	if err != nil {
		return Segment{}, fmt.Errorf("campaigns: create segment: %w", segmentError(err, d.name))
	}
	return sg, nil
}

// UpdateSegment changes the given fields of a segment; the campaigns that use it see the
// new filter at their next launch or preview. Errors: NotFound; Invalid.
func (s *Service) UpdateSegment(ctx context.Context, id int64, in SegmentInput) (Segment, error) {
	var out Segment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sg, err := scanSegment(tx.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return segmentNotFound(err, id)
		}
		d := segmentDraft{name: sg.Name, description: sg.Description, filter: sg.Filter}
		if err := d.apply(in, false); err != nil {
			return err
		}
		filter, err := json.Marshal(d.filter)
		if err != nil {
			return err
		}
		out, err = scanSegment(tx.QueryRow(ctx, `
			UPDATE segments SET name = $2, description = $3, filter = $4, updated_at = now()
			WHERE id = $1 RETURNING `+segmentColumns, id, d.name, d.description, filter))
		return segmentError(err, d.name)
	})
	if err != nil {
		return Segment{}, fmt.Errorf("campaigns: update segment %d: %w", id, err)
	}
	return out, nil
}

// GetSegment returns a segment. Errors: NotFound.
func (s *Service) GetSegment(ctx context.Context, id int64) (Segment, error) {
	sg, err := scanSegment(s.pool.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id = $1`, id))
	if err != nil {
		return Segment{}, fmt.Errorf("campaigns: get segment %d: %w", id, segmentNotFound(err, id))
	}
	return sg, nil
}

// SegmentListParams page a segment list.
type SegmentListParams struct {
	AfterID int64 // keyset cursor: segments with a greater id
	Limit   int
}

// ListSegments returns segments in id order and the cursor of the next page (0 at the end).
func (s *Service) ListSegments(ctx context.Context, p SegmentListParams) ([]Segment, int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id > $1 ORDER BY id LIMIT $2`,
		p.AfterID, p.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: list segments: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: list segments: %w", err)
	}
	var next int64
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// DeleteSegment deletes a segment. Campaigns that are drafts, completed or cancelled let
// it go (they keep the filter they last resolved); one that is scheduled, running or
// paused holds it. Errors: NotFound; Conflict naming the campaigns that use it.
func (s *Service) DeleteSegment(ctx context.Context, id int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock first: a Schedule that holds the segment (check's FOR SHARE) has
		// committed its status by the time the campaigns are read below.
		var got int64
		if err := tx.QueryRow(ctx, `SELECT id FROM segments WHERE id = $1 FOR UPDATE`, id).Scan(&got); err != nil {
			return segmentNotFound(err, id)
		}
		rows, err := tx.Query(ctx, `
			SELECT id FROM campaigns WHERE segment_id = $1 AND status IN ('scheduled', 'running', 'paused')
			ORDER BY id LIMIT 11`, id)
		if err != nil {
			return err
		}
		users, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(users) > 0 {
			names := make([]string, 0, len(users))
			for i, u := range users {
				if i == 10 {
					names = append(names, "…")
					break
				}
				names = append(names, fmt.Sprint(u))
			}
			return apperr.Conflictf("segment %d is the audience of campaigns that are scheduled, running or paused (%s): "+
				"cancel them or give them another audience first", id, strings.Join(names, ", "))
		}
		_, err = tx.Exec(ctx, `DELETE FROM segments WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("campaigns: delete segment %d: %w", id, err)
	}
	return nil
}

// SegmentCount counts a segment's audience now as a campaign preview would: a marketing
// message on the service's channel (Options.Channel), with the frequency cap, without a
// schedule. Errors: NotFound.
func (s *Service) SegmentCount(ctx context.Context, id int64) (SegmentCount, error) {
	sg, err := s.GetSegment(ctx, id)
	if err != nil {
		return SegmentCount{}, err
	}
	out, err := s.countFilter(ctx, sg.Filter)
	if err != nil {
		return SegmentCount{}, fmt.Errorf("campaigns: segment %d: %w", id, err)
	}
	return out, nil
}

// segmentFilter reads segment id's filter; with lock, under a share lock that holds off
// its deletion. Errors: NotFound.
func (s *Service) segmentFilter(ctx context.Context, q querier, id int64, lock bool) (Filter, error) {
	query := `SELECT filter FROM segments WHERE id = $1`
	if lock {
		query += ` FOR SHARE`
	}
	var b []byte
	if err := q.QueryRow(ctx, query, id).Scan(&b); err != nil {
		return Filter{}, segmentNotFound(err, id)
	}
	var f Filter
	if err := json.Unmarshal(b, &f); err != nil {
		return Filter{}, fmt.Errorf("segment %d: filter: %w", id, err)
	}
	return withEmptyTags(f), nil
}

// resolveAudience returns the filter campaign c's audience means now: its segment's
// filter, or the copy it stored when the segment is gone (deleted after the check, in a
// race the lock does not close), or its inline filter.
func (s *Service) resolveAudience(ctx context.Context, q querier, c Campaign) (Audience, error) {
	if c.Audience.SegmentID == 0 {
		return c.Audience, nil
	}
	f, err := s.segmentFilter(ctx, q, c.Audience.SegmentID, false)
	if apperr.CodeOf(err) == apperr.NotFound {
		return c.Audience, nil
	}
	if err != nil {
		return Audience{}, err
	}
	f.SegmentID = c.Audience.SegmentID
	return f, nil
}

// segmentNotFound translates pgx's no rows for segment id.
func segmentNotFound(err error, id int64) error {
	if isNoRows(err) {
		return apperr.NotFoundf("segment %d not found", id)
	}
	return err
}

// segmentError translates a unique violation of the segment's name.
func segmentError(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "segments_name_idx" {
		return apperr.Field("name", "a segment named %q exists already (names are unique whatever their case)", name)
	}
	return err
}
