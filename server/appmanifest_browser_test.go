package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAppManifestPage fills in docs/github-app-create.html in a browser
// and sends it to a stand-in for GitHub: the form posts the manifest of
// docs/github-app-manifest.json, with the webhook URL given, to the
// organization's page that creates an App from a manifest.
func TestAppManifestPage(t *testing.T) {
	t.Parallel()
	page, err := filepath.Abs(filepath.Join("..", "docs", "github-app-create.html"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "docs", "github-app-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("docs/github-app-manifest.json: %v", err)
	}
	want["hook_attributes"].(map[string]any)["url"] = "https://atoll.internal/events"

	posted := make(chan string, 1)
	github := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/organizations/acme/settings/apps/new" {
			posted <- r.PostFormValue("manifest")
		}
		w.Write([]byte("<p>GitHub</p>"))
	}))
	defer github.Close()

	ctx := browser(t, "", "")
	err = chromedp.Do(ctx,
		chromedp.Navigate("file://"+page),
		chromedp.SetValue(chromedp.CSS("#org"), "acme"),
		chromedp.SetValue(chromedp.CSS("#hook"), "https://atoll.internal/events"),
		chromedp.SetValue(chromedp.CSS("#host"), github.URL+"/"),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "github-app-create")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("button"))); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-posted:
		var got map[string]any
		if err := json.Unmarshal([]byte(m), &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("posted manifest %s (%v), want docs/github-app-manifest.json with the webhook URL given", m, err)
		}
	case <-ctx.Done():
		t.Fatal("the page posted nothing to the organization's new-App page")
	}
}
