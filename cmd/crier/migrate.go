package main

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crierhq/crier/migrations"
)

// cmdMigrate applies every pending migration. Safe to run at every start and from
// several processes at once: goose takes a Postgres lock.
func cmdMigrate(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: migrate takes no arguments", errUsage)
	}
	db := stdlib.OpenDBFromPool(a.pool)
	defer db.Close()
	applied, err := migrations.Up(ctx, db, nil)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		a.logger.Info("database is up to date")
		return nil
	}
	a.logger.Info("migrated", "applied", applied)
	return nil
}
