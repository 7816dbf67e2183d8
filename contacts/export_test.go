package contacts

// SetChunkHook has s call f after each chunk that ImportRun merges, inside the import's
// transaction; an error from f ends the run as a crash would.
func SetChunkHook(s *Service, f func(records int64) error) { s.chunkHook = f }
