package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
)

// inBrowser is a headless Chromium signed in to the test server's console as a user of
// the role. Like cmd/crier's browser tests it does not skip without a browser (make test
// installs one with scripts/chromium.sh).
type inBrowser struct {
	t   *testing.T
	ctx context.Context
}

func (b *testBundle) browser(t *testing.T, role auth.Role, timeout time.Duration) *inBrowser {
	t.Helper()
	chromium := os.Getenv("CRIER_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser"} {
		if chromium == "" {
			chromium, _ = exec.LookPath(name)
		}
	}
	require.NotEmpty(t, chromium, "no Chromium (chromium on the PATH, or CRIER_CHROMIUM): run scripts/chromium.sh")
	cookie, _ := b.session(t, role)

	actx, acancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	br := &inBrowser{t: t, ctx: ctx}
	// The session cookie as the sign-in would set it.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+"/login")))
	br.eval("set the cookie", `(document.cookie = "crier_session=`+cookie+`; path=/")`)
	return br
}

// eval runs a script in the page and says whether its value is truthy.
func (br *inBrowser) eval(what, script string) bool {
	br.t.Helper()
	ok, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool]("!!("+script+")"))
	require.NoError(br.t, err, what)
	return ok
}

// waitFor waits up to 15 s for a script's value to be truthy. An error counts as not yet:
// right after a navigation the script may run before the new page has the elements it
// reads (cmd/crier's tab.waitFor does the same).
func (br *inBrowser) waitFor(what, script string) {
	br.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool]("!!("+script+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			br.t.Fatalf("timed out after 15s waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
