package campaigns

import (
	"context"
	"fmt"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/internal/apperr"
)

// FilterCount counts an unsaved filter's audience now, exactly as SegmentCount counts a
// saved segment's (a marketing message on the service's channel, with the frequency cap,
// without a schedule): the console's segment builder shows it while the filter is being
// written, before anything is stored. Errors: Invalid, with field paths under "filter."
// as a segment's.
func (s *Service) FilterCount(ctx context.Context, f Filter) (SegmentCount, error) {
	nf, errs := normalizeFilter(f, "filter")
	if err := apperr.Fields(errs...); err != nil {
		return SegmentCount{}, err
	}
	return s.countFilter(ctx, nf)
}

// countFilter counts a normalised filter's audience now: a marketing message on the
// service's channel, with the frequency cap, without a schedule.
func (s *Service) countFilter(ctx context.Context, f Filter) (SegmentCount, error) {
	args, err := s.audienceArgs(ctx, s.pool, Campaign{Audience: f}, consent.Marketing, s.now(), false)
	if err != nil {
		return SegmentCount{}, fmt.Errorf("campaigns: count: %w", err)
	}
	out := SegmentCount{Excluded: map[string]int64{}}
	if err := s.countAudience(ctx, args, func(reason *string, n int64) {
		out.Matched += n
		if reason == nil {
			out.Eligible += n
		} else {
			out.Excluded[*reason] += n
		}
	}); err != nil {
		return SegmentCount{}, fmt.Errorf("campaigns: count: %w", err)
	}
	return out, nil
}
