package whatsapp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/sender"
)

func TestPairFailsFastWhenWhatsAppIsUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()

	start := time.Now()
	_, err := b.conn.PairQR(ctx, waAccount(3, unreachableProxy))
	require.Less(t, time.Since(start), fastFail)
	require.ErrorContains(t, err, "pair account 3 through proxy socks5://127.0.0.1:1")
	require.ErrorContains(t, err, "check the network or the account's proxy")

	start = time.Now()
	_, err = b.conn.PairPhone(ctx, waAccount(3, unreachableProxy), "+"+ownDigits)
	require.Less(t, time.Since(start), fastFail)
	require.ErrorContains(t, err, "pair account 3 through proxy")

	b.conn.mu.Lock()
	require.Empty(t, b.conn.pairings, "failed pairings are not left behind")
	b.conn.mu.Unlock()
	_, err = deviceGet(ctx, b.pool, 3)
	require.ErrorIs(t, err, ErrNotPaired)
}

func TestPairTimesOutWhenNobodyAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{ConnectTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := b.conn.PairQR(context.Background(), waAccount(3, silentProxy(t)))
	require.Less(t, time.Since(start), fastFail)
	require.ErrorIs(t, err, ErrTimeout)
}

func TestPairRefusesPairedAccountsAndBadNumbers(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	storeFakeDevice(t, b, 3, ownDigits)
	_, err := b.conn.PairQR(context.Background(), waAccount(3, unreachableProxy))
	require.ErrorIs(t, err, ErrAlreadyPaired)
	require.ErrorIs(t, err, sender.ErrAlreadyPaired, "the API tells it apart without naming this package")
	_, err = b.conn.PairPhone(context.Background(), waAccount(4, unreachableProxy), "015551234")
	require.ErrorIs(t, err, ErrInvalidPhone)
	require.ErrorIs(t, err, sender.ErrInvalidPhone, "the API tells it apart without naming this package")
	require.ErrorIs(t, err, sender.ErrPermanent)
	require.EqualError(t, err, "whatsapp: pair account 4 by phone: whatsapp: invalid phone number: want E.164 (+ and 7 to 15 digits)", "the API shows this text")
}

// startTestPairing runs the background half of a pairing on a constructed QR channel.
func startTestPairing(t *testing.T, b *testBundle, accountID int64, showCodes bool) (*sender.Pairing, chan whatsmeow.QRChannelItem, *types.JID, *int) {
	t.Helper()
	_, cancel := context.WithCancel(context.Background())
	p := sender.NewPairing(accountID, cancel)
	require.NoError(t, b.conn.pairingStart(p))
	items := make(chan whatsmeow.QRChannelItem, 8)
	var jid types.JID
	stops := 0
	go b.conn.pairingWatch(p, items, showCodes, func() types.JID { return jid }, func() { stops++; cancel() })
	return p, items, &jid, &stops
}

func TestPairingSuccessRecordsTheDevice(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	p, items, jid, stops := startTestPairing(t, b, 3, true)

	items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@first", Timeout: time.Minute}
	items <- whatsmeow.QRChannelScannedWithoutMultidevice
	items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@second", Timeout: 20 * time.Second}
	*jid = types.JID{User: ownDigits, Device: 12, Server: types.DefaultUserServer} // whatsmeow saves the device before it reports success
	items <- whatsmeow.QRChannelSuccess
	close(items)

	var got []sender.PairEvent
	for e := range p.Events() {
		got = append(got, e)
	}
	require.Equal(t, []sender.PairEvent{
		{Kind: sender.PairCode, Code: "2@first", Expires: time.Minute},
		{Kind: sender.PairCode, Code: "2@second", Expires: 20 * time.Second},
		{Kind: sender.PairSuccess, Phone: "+" + ownDigits, Device: ownDigits + ":12@s.whatsapp.net"},
	}, got)
	final, err := p.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, sender.PairSuccess, final.Kind)
	require.Equal(t, final, p.Result())
	require.Equal(t, 1, *stops, "the pairing client is stopped")

	recorded, err := deviceGet(context.Background(), b.pool, 3)
	require.NoError(t, err)
	require.Equal(t, *jid, recorded)
	b.conn.pairingWG.Wait()
	require.Empty(t, b.conn.pairings)
}

func TestPairingEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		last *whatsmeow.QRChannelItem // nil: whatsmeow closes the channel (its context ended)
		kind sender.PairEventKind
		err  string
	}{
		{"codes ran out", &whatsmeow.QRChannelTimeout, sender.PairTimeout, "codes ran out"},
		{"pair error", &whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventError, Error: errors.New("hmac mismatch for 15550001111")}, sender.PairFailed, "hmac mismatch"},
		{"client outdated", &whatsmeow.QRChannelClientOutdated, sender.PairFailed, "upgrade Crier"},
		{"unexpected state", &whatsmeow.QRChannelErrUnexpectedEvent, sender.PairFailed, "unexpected connection state"},
		{"pair timeout", nil, sender.PairTimeout, "within 3m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Options{})
			p, items, _, _ := startTestPairing(t, b, 3, true)
			if tt.last != nil {
				items <- *tt.last
			}
			close(items)
			final, err := p.Wait(context.Background())
			require.NoError(t, err)
			require.Equal(t, tt.kind, final.Kind)
			require.ErrorContains(t, final.Err, tt.err)
			require.NotContains(t, final.Err.Error(), ownDigits)
			_, err = deviceGet(context.Background(), b.pool, 3)
			require.ErrorIs(t, err, ErrNotPaired)
		})
	}
}

func TestPairingCancelledOrReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	first, items1, _, _ := startTestPairing(t, b, 3, true)
	second, items2, _, _ := startTestPairing(t, b, 3, true) // pairing again replaces the first

	close(items1) // whatsmeow closes the channel once the cancelled context ends
	final, err := first.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, sender.PairFailed, final.Kind)
	require.ErrorIs(t, final.Err, ErrPairingCancelled)

	b.conn.mu.Lock()
	require.Same(t, second, b.conn.pairings[3], "the newer pairing stays registered")
	b.conn.mu.Unlock()

	second.Cancel()
	close(items2)
	final, err = second.Wait(context.Background())
	require.NoError(t, err)
	require.ErrorIs(t, final.Err, ErrPairingCancelled)
}

func TestPairingNobodyReadingNeverBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	p, items, jid, _ := startTestPairing(t, b, 3, true)
	go func() {
		for range 40 {
			items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@code"}
		}
		*jid = types.JID{User: ownDigits, Device: 12, Server: types.DefaultUserServer}
		items <- whatsmeow.QRChannelSuccess
		close(items)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	final, err := p.Wait(ctx) // the HTTP handler returned after the first code; nobody reads
	require.NoError(t, err)
	require.Equal(t, sender.PairSuccess, final.Kind)

	var got []sender.PairEvent
	for e := range p.Events() {
		got = append(got, e)
	}
	require.Len(t, got, pairingEventsBufferSize)
	require.Equal(t, sender.PairSuccess, got[len(got)-1].Kind, "the final event is never dropped")
}

func TestPairingByPhoneShowsNoCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	p, items, _, _ := startTestPairing(t, b, 3, false)
	items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@ignored"}
	items <- whatsmeow.QRChannelTimeout
	close(items)
	var got []sender.PairEvent
	for e := range p.Events() {
		got = append(got, e)
	}
	require.Len(t, got, 1)
	require.Equal(t, sender.PairTimeout, got[0].Kind)
}
