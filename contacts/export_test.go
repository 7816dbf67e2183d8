package contacts

import "time"

// SetChunkHook has s call f after each chunk that ImportRun merges, inside the import's
// transaction; an error from f ends the run as a crash would.
func SetChunkHook(s *Service, f func(records int64) error) { s.chunkHook = f }

// SetImportLockWait sets how long ImportRun waits for another run's lock.
func SetImportLockWait(s *Service, d time.Duration) { s.importLockWait = d }

// SetAnalyzeAfter sets how many contacts an import creates or changes before it analyses.
func SetAnalyzeAfter(s *Service, n int) { s.analyzeAfter = n }
