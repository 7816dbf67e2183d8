package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxURLLength is the longest endpoint URL accepted.
const MaxURLLength = 2000

// Resolver looks up a host's addresses (net.DefaultResolver; tests give a fake).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Addresses a webhook must never reach unless private addresses are allowed: besides what
// netip classifies (loopback, private, link-local, multicast, unspecified), "this network"
// and the carrier-grade NAT range, and NAT64 addresses, judged by the IPv4 address inside.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
)

// errBlocked is the reason an address is refused.
var errBlocked = errors.New("is a loopback, private, link-local or otherwise internal address")

// blocked reports whether a webhook may not be sent to addr.
func blocked(addr netip.Addr) bool {
	addr = addr.Unmap()
	if nat64.Contains(addr) {
		b := addr.As16()
		return blocked(netip.AddrFrom4([4]byte(b[12:16])))
	}
	return !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() || thisNetwork.Contains(addr) || cgnat.Contains(addr)
}

// checkURL checks an endpoint URL's form and, unless allowPrivate, that its host resolves
// to public addresses only. The message is for the url field.
func checkURL(ctx context.Context, raw string, allowPrivate bool, res Resolver) error {
	if raw == "" {
		return errors.New("is required")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not hold a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("must name a host")
	}
	if allowPrivate {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if blocked(addr) {
			return errBlocked
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", strings.TrimSuffix(host, "."))
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("has a host that does not resolve (%s)", host)
	}
	for _, a := range addrs {
		if blocked(a) {
			return fmt.Errorf("has a host that resolves to %s, which %s", a, errBlocked)
		}
	}
	return nil
}

// dialControl refuses a connection to a blocked address: it sees the address actually
// dialled, after resolution, so a host that resolves to a public address when the endpoint
// is saved and to an internal one later (DNS rebinding) is refused too.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhooks: dial %s: %w", network, err)
	}
	if blocked(ap.Addr()) {
		return fmt.Errorf("webhooks: refused to connect to %s: it %w", ap.Addr(), errBlocked)
	}
	return nil
}

// newClient returns the HTTP client deliveries go out with: a timeout, no redirects (a
// 3xx is a failure: following one would reach a URL nobody checked), no proxy from the
// environment, and unless allowPrivate the dial check.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = dialControl
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
