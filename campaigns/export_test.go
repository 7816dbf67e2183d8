package campaigns

// SetAfterLaunchPart makes f run in each launch part's transaction of s after its work;
// an error from f rolls the part back, as a crash would. Nil removes it.
func SetAfterLaunchPart(s *Service, f func(runID int64, part int) error) { s.afterLaunchPart = f }

// SetBeforeLaunchParts makes f run before each round of a launch's parts. Nil removes it.
func SetBeforeLaunchParts(s *Service, f func(runID int64)) { s.beforeLaunchParts = f }
