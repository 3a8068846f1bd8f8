package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestImageURLs: response_format=url gives signed links that open without
// the API key, for their file only, until they expire, and only while the
// key they were made for is still accepted.
func TestImageURLs(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnv(t, Config{APIKeys: []string{"k1"}, Now: clock, FileURLTTL: time.Minute})
	code, _, body := e.postJSON("/v1/images/generations", map[string]any{"model": "gen", "prompt": "a", "n": 2, "response_format": "url"},
		"Authorization", "Bearer k1")
	var res struct {
		Data []struct {
			URL     string `json:"url"`
			B64JSON string `json:"b64_json"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &res) != nil || len(res.Data) != 2 || res.Data[0].B64JSON != "" {
		t.Fatalf("generate: %d %s", code, body)
	}
	get := func(u string) int {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	u := res.Data[0].URL
	if !strings.HasPrefix(u, e.ts.URL+"/v1/files/") {
		t.Fatalf("url %s", u)
	}
	if c := get(u); c != 200 {
		t.Errorf("signed url: %d", c)
	}
	if c := get(strings.Replace(u, "image0", "image1", 1)); c != 403 {
		t.Errorf("another file under the same signature: %d", c)
	}
	if c := get(strings.Replace(u, "sig=", "sig=0", 1)); c != 403 {
		t.Errorf("bad signature: %d", c)
	}
	now = now.Add(2 * time.Minute)
	if c := get(u); c != 403 {
		t.Errorf("expired url: %d", c)
	}
	// A gateway whose keys changed no longer opens the old key's links.
	other := New(Config{APIKeys: []string{"k2"}, URLSecret: "s"}, e.q)
	if urlSecret(Config{APIKeys: []string{"k1"}}) == nil || string(other.urlKey) != "s" || other.liveCaller(keyID("k1")) {
		t.Error("URLSecret or key ids are not honoured")
	}
	code, _, _ = e.postJSON("/v1/images/generations", map[string]any{"model": "gen", "prompt": "a", "response_format": "png"},
		"Authorization", "Bearer k1")
	if code != 400 {
		t.Errorf("response_format png: %d", code)
	}
}
