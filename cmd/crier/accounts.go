package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/sender"
)

// cmdAccounts lists sending accounts and pairs accounts (WhatsApp's) from the terminal.
func cmdAccounts(ctx context.Context, a *app, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: accounts needs list, add or pair", errUsage)
	}
	store, err := a.accounts()
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		if len(args) > 1 {
			return fmt.Errorf("%w: accounts list takes no arguments", errUsage)
		}
		return listAccounts(ctx, store, out)
	case "add":
		return addAccount(ctx, a, args[1:], out)
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

// addAccount creates an account from flags. A whatsapp_cloud account's access token and
// app secret are read from files (--access-token-file, --app-secret-file: a Docker or
// Kubernetes secret, or a file only its owner reads), never from the command line, where
// every user of the machine could read them; the token is checked with Meta first.
func addAccount(ctx context.Context, a *app, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("accounts add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "the account's name")
	channel := fs.String("channel", "", "whatsapp, whatsapp_cloud or sandbox")
	rate := fs.Int("rate", 0, "messages a minute (default: the channel's)")
	dailyCap := fs.Int("daily-cap", -1, "messages a day, 0 for none (default: the channel's)")
	var cloud sender.CloudConfig
	fs.StringVar(&cloud.PhoneNumberID, "phone-number-id", "", "whatsapp_cloud: the number's id in Meta's WhatsApp Manager")
	fs.StringVar(&cloud.WABAID, "waba-id", "", "whatsapp_cloud: the WhatsApp Business Account id")
	fs.StringVar(&cloud.VerifyToken, "verify-token", "", "whatsapp_cloud: the webhook's verify token (default: a random one)")
	fs.StringVar(&cloud.GraphURL, "graph-url", "", "whatsapp_cloud: the Graph API's URL (default "+sender.DefaultCloudGraphURL+")")
	fs.StringVar(&cloud.APIVersion, "api-version", "", "whatsapp_cloud: the Graph API version (default "+sender.DefaultCloudAPIVersion+")")
	tokenFile := fs.String("access-token-file", "", "whatsapp_cloud: a file holding the system user's access token")
	secretFile := fs.String("app-secret-file", "", "whatsapp_cloud: a file holding the Meta app's secret")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: accounts add takes only flags", errUsage)
	}
	in := sender.AccountInput{Name: *name, Channel: sender.Channel(*channel)}
	if *rate != 0 {
		in.RatePerMinute = rate
	}
	if *dailyCap >= 0 {
		in.DailyCap = dailyCap
	}
	if in.Channel == sender.WhatsAppCloud {
		for _, f := range []struct {
			path, flag string
			dst        *string
		}{{*tokenFile, "--access-token-file", &cloud.AccessToken}, {*secretFile, "--app-secret-file", &cloud.AppSecret}} {
			if f.path == "" {
				return fmt.Errorf("%w: a whatsapp_cloud account needs %s", errUsage, f.flag)
			}
			b, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("%s: %w", f.flag, err)
			}
			*f.dst = strings.TrimSpace(string(b))
		}
		in.Cloud = &cloud
	}
	store, err := a.accounts()
	if err != nil {
		return err
	}
	tr, err := newTransports(ctx, a, store, nil)
	if err != nil {
		return err
	}
	defer tr.Close()
	acct, err := httpapi.CreateAccount(ctx, store, tr.channels, in)
	if err != nil {
		return err
	}
	if err := audit.NewLog(a.pool).Record(ctx, audit.Entry{Actor: "cli:" + osUser(), Action: "account.create",
		TargetType: "account", TargetID: strconv.FormatInt(acct.ID, 10)}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Created %s account %d (%s).\n", acct.Channel, acct.ID, acct.Name)
	switch {
	case acct.Cloud != nil:
		fmt.Fprintf(out, "Webhook for Meta (App Dashboard → WhatsApp → Configuration):\n  callback URL:  https://<this server>/v1/channels/whatsapp_cloud/%d/webhook\n  verify token:  %s\n  fields:        messages, account_update, phone_number_quality_update, message_template_status_update\n",
			acct.ID, acct.Cloud.VerifyToken)
	case acct.Status == sender.StatusPendingPair:
		fmt.Fprintf(out, "Pair it: crier accounts pair %d\n", acct.ID)
	}
	return nil
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
	tr, err := newTransports(ctx, a, store, nil)
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
