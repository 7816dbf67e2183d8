package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/sender"
)

// cmdAccounts lists sending accounts and pairs accounts (WhatsApp's) from the terminal.
func cmdAccounts(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: accounts needs list or pair", errUsage)
	}
	store := sender.NewAccounts(a.pool)
	switch args[0] {
	case "list":
		if len(args) > 1 {
			return fmt.Errorf("%w: accounts list takes no arguments", errUsage)
		}
		return listAccounts(ctx, store, out)
	case "pair":
		fs := flag.NewFlagSet("accounts pair", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		phone := fs.String("phone", "", "the account's own number in E.164: pair by code instead of QR")
		// Go's flag package stops at the first argument that is not a flag: accept the id
		// before or after --phone.
		var idArg string
		rest := args[1:]
		if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
			idArg, rest = rest[0], rest[1:]
		}
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if idArg == "" && fs.NArg() == 1 {
			idArg = fs.Arg(0)
		} else if fs.NArg() > 0 {
			return fmt.Errorf("%w: accounts pair takes one account id", errUsage)
		}
		id, err := strconv.ParseInt(idArg, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("%w: accounts pair needs an account id (see `crier accounts list`)", errUsage)
		}
		return pairAccount(ctx, a, store, id, *phone, out)
	default:
		return fmt.Errorf("%w: unknown accounts command %q", errUsage, args[0])
	}
}

func listAccounts(ctx context.Context, store *sender.Accounts, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCHANNEL\tSTATUS\tRATE/MIN\tDAILY CAP")
	var after int64
	for {
		list, next, err := store.List(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, acct := range list {
			status, _ := acct.ShownStatus()
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", acct.ID, acct.Name, acct.Channel, status, acct.RatePerMinute, acct.DailyCap)
		}
		if next == 0 {
			return tw.Flush()
		}
		after = next
	}
}

// pairAccount links an account to a phone, through its channel's transport: it draws each
// QR code in the terminal (or prints the pairing code to type on the phone) until the
// phone links it or the pairing gives up.
func pairAccount(ctx context.Context, a *app, store *sender.Accounts, id int64, phone string, out io.Writer) error {
	acct, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	tr, err := newTransports(ctx, a)
	if err != nil {
		return err
	}
	defer tr.Close()
	if caps, _ := tr.channels.Capabilities(acct.Channel); !caps.Pairs() {
		return fmt.Errorf("account %d is a %s account: only %s accounts are paired", id, acct.Channel,
			sender.ChannelNames(tr.channels.Where(sender.Capabilities.Pairs)))
	}
	pairer, ok := tr.channels[acct.Channel].(httpapi.Pairer)
	if !ok {
		return fmt.Errorf("account %d: the %s transport does not pair", id, acct.Channel)
	}
	var p *sender.Pairing
	if phone != "" {
		p, err = pairer.PairPhone(ctx, acct, phone)
	} else {
		p, err = pairer.PairQR(ctx, acct)
	}
	if err != nil {
		return err
	}
	defer p.Cancel()
	if phone != "" {
		fmt.Fprintf(out, "On the phone: WhatsApp → Linked devices → Link with phone number, then type\n\n    %s\n\n", p.Code)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-p.Events():
			if !ok {
				return pairingResult(ctx, a, store, acct, p.Result(), out)
			}
			switch ev.Kind {
			case sender.PairCode:
				fmt.Fprintf(out, "Scan with WhatsApp → Linked devices → Link a device (this code lasts %s):\n\n", ev.Expires)
				if err := renderQR(out, ev.Code); err != nil {
					return err
				}
			default:
				return pairingResult(ctx, a, store, acct, ev, out)
			}
		}
	}
}

func pairingResult(ctx context.Context, a *app, store *sender.Accounts, acct sender.Account, ev sender.PairEvent, out io.Writer) error {
	if ev.Kind != sender.PairSuccess {
		if ev.Err == nil {
			ev.Err = errors.New("the pairing ended without a phone")
		}
		return fmt.Errorf("pair account %d: %s: %w", acct.ID, ev.Kind, ev.Err)
	}
	if err := store.SetPaired(ctx, acct.ID, ev.Phone); err != nil {
		return err
	}
	if err := audit.NewLog(a.pool).Record(ctx, audit.Entry{Actor: "cli:" + osUser(), Action: "account.pair",
		TargetType: "account", TargetID: strconv.FormatInt(acct.ID, 10)}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Paired account %d (%s) with %s. A running worker connects it within seconds.\n", acct.ID, acct.Name, ev.Phone)
	return nil
}
