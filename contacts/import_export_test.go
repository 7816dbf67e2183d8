package contacts

// SetPartHook has s call f after each part of an import that commits on its own (every
// part but the import's own transaction) has committed; an error from f ends the run as a
// crash between the commits would.
func SetPartHook(s *Service, f func(part int) error) { s.partHook = f }
