package campaigns

import "github.com/crierhq/crier/campaigns/schedule"

// DefaultQuietHours is the deployment's default quiet window (Options.QuietHours, i.e.
// CRIER_QUIET_HOURS): what a campaign without its own quiet_hours gets. The console's
// wizard pre-fills it, so that what the marketer sees is what the server would apply.
func (s *Service) DefaultQuietHours() schedule.QuietHours {
	return s.opts.QuietHours
}
