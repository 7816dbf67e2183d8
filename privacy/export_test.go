package privacy

import "time"

// SetNow makes s read the time from now.
func SetNow(s *Service, now func() time.Time) { s.now = now }
