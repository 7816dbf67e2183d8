package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
)

// userCommand returns `crier user`, which manages the console's users: create makes one
// (with a password read from stdin, or else printing a one-time sign-in link alone on
// stdout), list prints a table, link prints a new sign-in link. Links start with
// CRIER_PUBLIC_URL, else http://CRIER_HTTP_ADDR.
func userCommand(getenv func(string) string, stdin io.Reader) func(context.Context, *app, []string, io.Writer) error {
	return func(ctx context.Context, a *app, args []string, out io.Writer) error {
		return cmdUser(ctx, a, args, out, getenv, stdin)
	}
}

func cmdUser(ctx context.Context, a *app, args []string, out io.Writer, getenv func(string) string, stdin io.Reader) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user needs create, list or link", errUsage)
	}
	users := auth.NewUsers(a.pool)
	log := audit.NewLog(a.pool)
	actor := "cli:" + osUser()
	base := publicBaseURL(a.cfg.PublicURL, a.cfg.HTTPAddr)
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("user create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		email := fs.String("email", "", "the user's email address")
		role := fs.String("role", "", "admin, marketer, ops, agent or compliance")
		fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if *email == "" || *role == "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: user create needs --email and --role", errUsage)
		}
		r, err := auth.ParseRole(*role)
		if err != nil {
			return err
		}
		password := ""
		if *fromStdin {
			if password, err = readPasswordLine(stdin); err != nil {
				return err
			}
		}
		u, err := users.Create(ctx, *email, r, password)
		if err != nil {
			return err
		}
		if err := log.Record(ctx, audit.Entry{Actor: actor, Action: "user.create", TargetType: "user", TargetID: fmt.Sprint(u.ID),
			Detail: map[string]any{"role": string(r), "password": u.HasPassword}}); err != nil {
			return err
		}
		if u.HasPassword {
			fmt.Fprintf(out, "created user %d (%s, %s): sign in at %s/login\n", u.ID, u.Email, u.Role, base)
			return nil
		}
		return printLink(ctx, users, log, actor, base, u, out)
	case "list":
		list, err := users.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tPASSWORD\tCREATED\tLAST SIGN-IN\tDISABLED")
		for _, u := range list {
			pw := "no"
			if u.HasPassword {
				pw = "yes"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, pw, u.CreatedAt.UTC().Format(time.RFC3339),
				timeOrDash(u.LastSignInAt), timeOrDash(u.DisabledAt))
		}
		return tw.Flush()
	case "link":
		fs := flag.NewFlagSet("user link", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		email := fs.String("email", "", "the user's email address")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if *email == "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: user link needs --email", errUsage)
		}
		u, err := userByEmail(ctx, users, *email)
		if err != nil {
			return err
		}
		return printLink(ctx, users, log, actor, base, u, out)
	}
	return fmt.Errorf("%w: unknown user command %q", errUsage, args[0])
}

// printLink makes a one-time sign-in link, audits it, and prints it alone on one line so
// that a script can capture it.
func printLink(ctx context.Context, users *auth.Users, log *audit.Log, actor, base string, u auth.User, out io.Writer) error {
	token, expires, err := users.SignInLink(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := log.Record(ctx, audit.Entry{Actor: actor, Action: "user.sign_in_link", TargetType: "user", TargetID: fmt.Sprint(u.ID),
		Detail: map[string]any{"expires_at": expires.UTC().Format(time.RFC3339)}}); err != nil {
		return err
	}
	fmt.Fprintln(out, base+"/login/link/"+token)
	return nil
}

// userByEmail finds a user by address. Staff lists are short, so the list is read.
func userByEmail(ctx context.Context, users *auth.Users, email string) (auth.User, error) {
	email, err := auth.NormalizeEmail(email)
	if err != nil {
		return auth.User{}, err
	}
	list, err := users.List(ctx)
	if err != nil {
		return auth.User{}, err
	}
	for _, u := range list {
		if u.Email == email {
			return u, nil
		}
	}
	return auth.User{}, fmt.Errorf("no user has the email %s (crier user list shows them)", email)
}

// readPasswordLine reads the password from the first line of r, without its line end.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: stdin's first line is empty; give the password on it")
	}
	return line, nil
}

// publicBaseURL is where people reach the console: CRIER_PUBLIC_URL, else the listen
// address (a wildcard host reads as localhost).
func publicBaseURL(public, httpAddr string) string {
	if public != "" {
		return strings.TrimRight(public, "/")
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "http://" + httpAddr
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
