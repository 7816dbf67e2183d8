package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
)

// cmdAPIKey manages API keys: create prints the new key alone on one line of stdout (so
// that scripts can capture it), list prints a table, revoke disables a key.
func cmdAPIKey(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: apikey needs create, list or revoke", errUsage)
	}
	keys := auth.NewKeys(a.pool)
	log := audit.NewLog(a.pool)
	actor := "cli:" + osUser()
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "what the key is for")
		role := fs.String("role", "", "admin, marketer, ops, agent or compliance")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if *name == "" || *role == "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: apikey create needs --name and --role", errUsage)
		}
		r, err := auth.ParseRole(*role)
		if err != nil {
			return err
		}
		token, key, err := keys.Create(ctx, *name, r)
		if err != nil {
			return err
		}
		if err := log.Record(ctx, audit.Entry{Actor: actor, Action: "apikey.create", TargetType: "apikey", TargetID: key.ID,
			Detail: map[string]any{"role": string(r)}}); err != nil {
			return err
		}
		fmt.Fprintln(out, token)
		return nil
	case "list":
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.CreatedAt.UTC().Format(time.RFC3339),
				timeOrDash(k.LastUsedAt), timeOrDash(k.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return fmt.Errorf("%w: apikey revoke needs the key's ID (see apikey list)", errUsage)
		}
		if err := keys.Revoke(ctx, args[1]); err != nil {
			return err
		}
		if err := log.Record(ctx, audit.Entry{Actor: actor, Action: "apikey.revoke", TargetType: "apikey", TargetID: args[1]}); err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %s\n", args[1])
		return nil
	}
	return fmt.Errorf("%w: unknown apikey command %q", errUsage, args[0])
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}
