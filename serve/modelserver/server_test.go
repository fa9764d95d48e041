package modelserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/serve/inference"
)

// emptyCatalog knows no models: enough for the routes, the token and the
// metrics, which do not depend on what is served.
type emptyCatalog struct{}

func (emptyCatalog) Names() []string { return nil }
func (emptyCatalog) Lookup(name string, _ int, _ string) (inference.Model, error) {
	return nil, errors.Join(inference.ErrModelNotFound, errors.New(name))
}
func (emptyCatalog) Versions(string) ([]inference.VersionStatus, error) {
	return nil, inference.ErrModelNotFound
}
func (emptyCatalog) Labels(string) (map[string]int, error) { return nil, inference.ErrModelNotFound }

func start(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Catalog = emptyCatalog{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return "http://" + s.Addr().String()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTokenGuardsAllButHealth(t *testing.T) {
	base := start(t, Config{Token: "s3cret"})
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/v1/models/x", "", http.StatusUnauthorized},
		{"/v1/models/x", "wrong", http.StatusUnauthorized},
		{"/v1/models/x", "s3cret", http.StatusNotFound},
		{"/v2/models/x", "", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "s3cret", http.StatusOK},
		{"/v2/health/live", "", http.StatusOK},
	} {
		if got, body := get(t, base+c.path, c.token); got != c.want {
			t.Errorf("GET %s (token %q) = %d %s, want %d", c.path, c.token, got, body, c.want)
		}
	}
}

func TestNoTokenOnLoopbackAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	base := start(t, Config{Registry: reg})
	if code, body := get(t, base+"/v1/models/nosuch", ""); code != http.StatusNotFound || !strings.Contains(body, "error") {
		t.Fatalf("unknown model: %d %s", code, body)
	}
	code, body := get(t, base+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, `shoal_serve_requests_total{api="v1",code="404",method="status",model="nosuch",version="latest"} 1`) {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
}

func TestRefusesNonLoopbackWithoutFlag(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err := Start(context.Background(), Config{Addr: addr, Catalog: emptyCatalog{}})
		if err == nil || !strings.Contains(err.Error(), "model server") {
			t.Errorf("Start(%s) = %v, want a refusal", addr, err)
		}
	}
	if _, err := Start(context.Background(), Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("Start without a catalog succeeded")
	}
}

func TestRouteOf(t *testing.T) {
	for _, c := range []struct{ path, api, model, version, method string }{
		{"/v1/models/mnist", "v1", "mnist", "latest", "status"},
		{"/v1/models/mnist:predict", "v1", "mnist", "latest", "predict"},
		{"/v1/models/mnist/versions/3:classify", "v1", "mnist", "3", "classify"},
		{"/v1/models/mnist/labels/stable/metadata", "v1", "mnist", "stable", "metadata"},
		{"/v2/health/ready", "v2", "", "", "health"},
		{"/v2", "v2", "", "", "server"},
		{"/v2/models/sms/versions/2/infer", "v2", "sms", "2", "infer"},
		{"/v2/models/sms", "v2", "sms", "latest", "metadata"},
		{"/v2/models/sms/ready", "v2", "sms", "latest", "ready"},
		{"/metrics", "", "", "", ""},
		{CeilingPath, "v1", "", "", "ceiling"},
		{"/v1/models/" + strings.Repeat("m", 100) + ":predict", "v1", "", "latest", "predict"},
	} {
		api, model, version, method := routeOf(c.path)
		if api != c.api || model != c.model || version != c.version || method != c.method {
			t.Errorf("routeOf(%s) = %s %s %s %s, want %s %s %s %s", c.path, api, model, version, method, c.api, c.model, c.version, c.method)
		}
	}
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBenchCeiling checks the benchmark aid: absent by default, and when
// asked for, an answer of its own behind the token, counted in the
// metrics as method "ceiling", with bodies past the limit refused.
func TestBenchCeiling(t *testing.T) {
	body := `{"instances":[[0,0.5,1]]}`
	if code, got := post(t, start(t, Config{})+CeilingPath, "", body); code == http.StatusOK {
		t.Fatalf("ceiling without BenchCeiling: %d %s", code, got)
	}
	reg := prometheus.NewRegistry()
	base := start(t, Config{BenchCeiling: true, Token: "s3cret", Registry: reg, MaxBodyBytes: 64})
	if code, got := post(t, base+CeilingPath, "", body); code != http.StatusUnauthorized {
		t.Errorf("ceiling without token: %d %s", code, got)
	}
	if code, got := post(t, base+CeilingPath, "s3cret", body); code != http.StatusOK || got != ceilingAnswer {
		t.Errorf("ceiling: %d %q, want 200 %q", code, got, ceilingAnswer)
	}
	if code, got := post(t, base+CeilingPath, "s3cret", strings.Repeat(" ", 65)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("ceiling, body past the limit: %d %s", code, got)
	}
	if code, got := get(t, base+CeilingPath, "s3cret"); code == http.StatusOK {
		t.Errorf("GET ceiling: %d %s", code, got)
	}
	_, m := get(t, base+"/metrics", "s3cret")
	if !strings.Contains(m, `shoal_serve_requests_total{api="v1",code="200",method="ceiling",model="",version=""} 1`) {
		t.Errorf("metrics:\n%s", m)
	}
}

// readCounter counts what the server read of a body.
type readCounter struct {
	n int64
	r io.Reader
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestDeclaredOversizeRefusedUnread: a body whose Content-Length is over
// MaxBodyBytes gets 413 before the server reads it; one at the limit is
// read (and answered by the route: 400, it is not JSON).
func TestDeclaredOversizeRefusedUnread(t *testing.T) {
	h, err := NewHandler(Config{Catalog: emptyCatalog{}, MaxBodyBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size     int64
		code     int
		readSome bool
	}{{1<<10 + 1, http.StatusRequestEntityTooLarge, false}, {1 << 20, http.StatusRequestEntityTooLarge, false}, {1 << 10, http.StatusBadRequest, true}} {
		body := &readCounter{r: strings.NewReader(strings.Repeat("x", int(tc.size)))}
		req := httptest.NewRequest(http.MethodPost, "/v1/models/nothing:predict", body)
		req.ContentLength = tc.size
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%d bytes: HTTP %d, want %d (%s)", tc.size, rec.Code, tc.code, rec.Body)
		}
		if (body.n > 0) != tc.readSome {
			t.Errorf("%d bytes: the server read %d of the body", tc.size, body.n)
		}
		if tc.code == http.StatusRequestEntityTooLarge && rec.Header().Get("Connection") != "close" {
			t.Errorf("%d bytes: connection left open", tc.size)
		}
	}
}
