package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/docs"
	"github.com/crierhq/crier/httpapi"
)

// docsServer serves the API without any service: the documentation routes need none.
func docsServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, httpapi.Options{}))
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with the given request headers (name, value pairs) and returns the
// response with its body read.
func get(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, body
}

// TestOpenAPIServed checks that GET /openapi.yaml is docs/openapi.yaml byte for byte, a
// document libopenapi builds, and that its ETag gives 304.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	srv := docsServer(t)
	want, err := os.ReadFile(specPath)
	require.NoError(t, err)
	require.Equal(t, want, docs.OpenAPI)

	res, body := get(t, srv.URL+"/openapi.yaml")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/yaml; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
	require.Equal(t, string(want), string(body))
	doc, err := libopenapi.NewDocument(body)
	require.NoError(t, err)
	_, err = doc.BuildV3Model()
	require.NoError(t, err)

	etag := res.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{64}"$`, etag)
	res, body = get(t, srv.URL+"/openapi.yaml", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, res.StatusCode)
	require.Empty(t, body)
	res, _ = get(t, srv.URL+"/openapi.yaml", "If-None-Match", `"stale"`)
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// TestDocsPage checks that GET /docs is a page whose every URL is of this server and
// answers, under a policy that allows nothing from elsewhere; and that the script it loads
// is Redoc's committed bundle, cached for long.
func TestDocsPage(t *testing.T) {
	t.Parallel()
	srv := docsServer(t)
	res, body := get(t, srv.URL+"/docs")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))

	// The policy: nothing by default, scripts and fetches only from here, and no
	// source that names another host or lets a page run inline or eval'd script.
	csp := res.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	require.Equal(t, "'none'", directives["default-src"], csp)
	require.Equal(t, "'self'", directives["script-src"], csp)
	require.Equal(t, "'self'", directives["connect-src"], csp)
	require.Equal(t, "'none'", directives["frame-ancestors"], csp)
	require.NotContains(t, csp, "http", csp)
	require.NotContains(t, csp, "*", csp)
	require.NotContains(t, csp, "unsafe-eval", csp)

	// Every URL of the page is relative to this server, and answers.
	page := string(body)
	require.NotContains(t, page, "<style", "styles come from the bundle")
	require.Regexp(t, `<script src="[^"]+"></script>`, page, "the only script is the bundle: no inline script")
	refs := regexp.MustCompile(`(?:src|href|spec-url)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	require.Len(t, refs, 2, page)
	base, err := url.Parse(srv.URL + "/docs")
	require.NoError(t, err)
	types := map[string]string{}
	for _, ref := range refs {
		u, err := url.Parse(ref[1])
		require.NoError(t, err)
		require.False(t, u.IsAbs() || u.Host != "" || strings.HasPrefix(ref[1], "/"),
			"%s: a URL relative to the page, so that a path prefix in front of Crier keeps it working", ref[1])
		res, _ := get(t, base.ResolveReference(u).String())
		require.Equal(t, http.StatusOK, res.StatusCode, ref[1])
		types[base.ResolveReference(u).Path] = res.Header.Get("Content-Type")
	}
	require.Equal(t, map[string]string{
		"/openapi.yaml":             "application/yaml; charset=utf-8",
		"/docs/redoc.standalone.js": "text/javascript; charset=utf-8",
	}, types)
}

// TestDocsScript checks the bundle's route: the committed file, JavaScript, cached for a
// year under a URL that /docs changes with the file, and free of font or CDN hosts that it
// would load by itself.
func TestDocsScript(t *testing.T) {
	t.Parallel()
	srv := docsServer(t)
	want, err := os.ReadFile("assets/redoc.standalone.js")
	require.NoError(t, err)

	res, page := get(t, srv.URL+"/docs")
	require.Equal(t, http.StatusOK, res.StatusCode)
	src := regexp.MustCompile(`<script src="([^"]+)"`).FindStringSubmatch(string(page))
	require.NotNil(t, src)
	require.Regexp(t, `^docs/redoc\.standalone\.js\?v=[0-9a-f]{16}$`, src[1])

	res, body := get(t, srv.URL+"/"+src[1])
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "public, max-age=31536000, immutable", res.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.Equal(t, len(want), len(body))
	require.Equal(t, want, body)
	require.Contains(t, src[1], strings.Trim(res.Header.Get("ETag"), `"`)[:16], "the page names the bundle by its hash")

	for _, host := range []string{"fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"} {
		require.NotContains(t, string(body), host)
	}
}
