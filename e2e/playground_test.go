package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const playgroundKey = "sk-loom-playground"

// TestPlayground drives the web playground in Debian's headless Chromium
// against a real loom serve (API keys on) with the shipped models: the key
// dialog, the models table, a streamed chat, an image with denoising
// previews before the picture, a caption of an uploaded PNG, speech that
// plays, a job moving to done on the Jobs page, a canceled job, a bad
// request showing the API's own message, and a video when a video model is
// installed. LOOM_SCREENSHOTS=DIR saves a screenshot of each page there
// (docs/playground holds the committed ones).
func TestPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test takes a minute or more")
	}
	chromium, err := exec.LookPath("chromium")
	need(t, err == nil, "chromium not installed (apt-get install chromium)")
	if _, err := os.Stat("../../shared/models/stories260K"); err != nil {
		t.Skip("../shared/models/stories260K absent: the chat page needs a text model")
	}
	port := freePort(t)
	loom(t, "serve", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--plugins", binDir,
		"--models", modelDirs(), "--log-level", "warn", "--api-keys", playgroundKey)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	(&client{t: t, base: base}).waitReady(1, 60*time.Second)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 900), chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	shots := os.Getenv("LOOM_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// until waits for a JavaScript expression to be true.
	until := func(what, expr string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				errText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("error").textContent`))
				t.Fatalf("%s: not within %v (error box: %q)", what, within, errText)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	str := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return s
	}

	// The page asks for the key once the API answers 401.
	run("open", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#key-dialog")))
	until("the 401 is shown", `document.getElementById("error").textContent.includes("401")`, 10*time.Second)
	run("key", chromedp.SendKeys(chromedp.CSS("#key-input"), playgroundKey), chromedp.Click(chromedp.CSS("#key-save")))
	until("the models load", `[...document.querySelectorAll("#chat-model option")].some(o => o.value === "stories260K")`, 30*time.Second)

	t.Run("models", func(t *testing.T) {
		run("models page", chromedp.Navigate(base+"/#models"))
		until("rows", `document.querySelectorAll("#models-table tbody tr").length >= 4`, 10*time.Second)
		rows := str(`[...document.querySelectorAll("#models-table tbody tr")].map(r => r.cells[0].textContent + ":" + r.cells[2].textContent).join(" ")`)
		for _, want := range []string{"stories260K:ready", "shapes-diffusion:ready", "shapes-captioner:ready", "loom-tts:ready"} {
			if !strings.Contains(rows, want) {
				t.Errorf("models table %q lacks %q", rows, want)
			}
		}
		shot("models")
	})

	t.Run("chat streams", func(t *testing.T) {
		run("chat", chromedp.Navigate(base+"/#chat"), chromedp.WaitVisible(chromedp.CSS("#chat-input")),
			chromedp.SetValue(chromedp.CSS("#chat-max-tokens"), "48"),
			chromedp.SendKeys(chromedp.CSS("#chat-input"), "Once upon a time"), chromedp.Click(chromedp.CSS("#chat-send")))
		// Tokens arrive while the message still streams, then it ends.
		until("streamed text", `(() => { const m = document.querySelector(".msg.assistant"); return !!m && m.textContent.length > 0 })()`, 2*time.Minute)
		until("stream end", `!document.querySelector(".msg.assistant.streaming") && !document.getElementById("chat-send").disabled`, 2*time.Minute)
		if got := str(`document.querySelector(".msg.assistant").textContent`); len(strings.Fields(got)) < 3 {
			t.Errorf("assistant said %q", got)
		}
		shot("chat")
	})

	t.Run("image with previews", func(t *testing.T) {
		run("image", chromedp.Navigate(base+"/#image"), chromedp.WaitVisible(chromedp.CSS("#image-steps")),
			chromedp.SetValue(chromedp.CSS("#image-steps"), "12"), chromedp.Click(chromedp.CSS("#image-go")))
		until("picture", `document.querySelectorAll("#image-gallery figure").length === 1`, 3*time.Minute)
		if n := str(`document.querySelector("#image-gallery figure").dataset.previews`); n == "0" || n == "" {
			t.Errorf("previews before the picture: %q", n)
		}
		until("picture decoded", `document.querySelector("#image-gallery img").naturalWidth >= 64`, 10*time.Second)
		shot("image")
	})

	t.Run("caption an uploaded PNG", func(t *testing.T) {
		png := filepath.Join(t.TempDir(), "square.png")
		if err := os.WriteFile(png, squarePNG(), 0o644); err != nil {
			t.Fatal(err)
		}
		run("caption", chromedp.Navigate(base+"/#caption"), chromedp.WaitVisible(chromedp.CSS("#caption-drop")),
			chromedp.SetUploadFiles(chromedp.CSS("#caption-file"), []string{png}))
		until("caption", `!!document.querySelector("#caption-results figcaption.caption")`, 2*time.Minute)
		if c := str(`document.querySelector("#caption-results figcaption.caption").textContent`); !strings.Contains(c, "square") {
			t.Errorf("caption of a square: %q", c)
		}
		shot("caption")
	})

	t.Run("speech plays", func(t *testing.T) {
		run("speech", chromedp.Navigate(base+"/#speech"), chromedp.WaitVisible(chromedp.CSS("#speech-go")),
			chromedp.Click(chromedp.CSS("#speech-go")))
		until("audio", `(() => { const a = document.querySelector("#speech-results audio"); return !!a && a.duration > 0 })()`, 3*time.Minute)
		shot("speech")
	})

	t.Run("a job moves to done", func(t *testing.T) {
		run("start", chromedp.Navigate(base+"/#image"), chromedp.WaitVisible(chromedp.CSS("#image-steps")),
			chromedp.SetValue(chromedp.CSS("#image-steps"), "40"), chromedp.SetValue(chromedp.CSS("#image-seed"), "7"),
			chromedp.Click(chromedp.CSS("#image-go")),
			chromedp.Navigate(base+"/#jobs"))
		until("job listed", `(() => { const r = document.querySelector("#jobs-table tbody tr"); return !!r && r.cells[1].textContent === "image.generate" })()`, 30*time.Second)
		id := str(`document.querySelector("#jobs-table tbody tr").dataset.id`)
		seen := map[string]bool{}
		deadline := time.Now().Add(3 * time.Minute)
		for !seen["succeeded"] && time.Now().Before(deadline) {
			seen[str(`(() => { const r = document.querySelector('#jobs-table tbody tr[data-id="`+id+`"]'); return r ? r.dataset.status : "" })()`)] = true
			time.Sleep(150 * time.Millisecond)
		}
		if !seen["succeeded"] || !(seen["queued"] || seen["running"]) {
			t.Fatalf("job %s statuses seen on the Jobs page: %v", id, seen)
		}
		shot("jobs")
	})

	t.Run("cancel a running job", func(t *testing.T) {
		run("start", chromedp.Navigate(base+"/#image"), chromedp.WaitVisible(chromedp.CSS("#image-steps")),
			chromedp.SetValue(chromedp.CSS("#image-steps"), "150"), chromedp.SetValue(chromedp.CSS("#image-n"), "4"),
			chromedp.Click(chromedp.CSS("#image-go")), chromedp.Navigate(base+"/#jobs"))
		until("running", `(() => { const r = document.querySelector("#jobs-table tbody tr"); return !!r && r.dataset.status === "running" })()`, time.Minute)
		id := str(`document.querySelector("#jobs-table tbody tr").dataset.id`)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelector('#jobs-table tbody tr[data-id="`+id+`"]').querySelectorAll("button")].find(b => b.textContent === "Cancel").click() === undefined`)); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		until("canceled", `(() => { const r = document.querySelector('#jobs-table tbody tr[data-id="`+id+`"]'); return !!r && r.dataset.status === "canceled" })()`, 30*time.Second)
	})

	t.Run("a bad request shows the API's error", func(t *testing.T) {
		run("speech", chromedp.Navigate(base+"/#speech"), chromedp.WaitVisible(chromedp.CSS("#speech-go")),
			chromedp.SetValue(chromedp.CSS("#speech-input"), strings.Repeat("word ", 1000)), chromedp.Click(chromedp.CSS("#speech-go")))
		until("error shown", `!document.getElementById("error").hidden && document.getElementById("error").textContent.includes("4096")`, time.Minute)
		if e := str(`document.getElementById("error").textContent`); !strings.Contains(e, "invalid_request") {
			t.Errorf("error box %q does not carry the API's code", e)
		}
	})

	t.Run("phone width and keyboard", func(t *testing.T) {
		run("viewport", chromedp.EmulateViewport(390, 844))
		for _, page := range []string{"chat", "image", "caption", "speech", "video", "jobs", "models"} {
			run(page, chromedp.Navigate(base+"/#"+page), chromedp.WaitVisible(chromedp.CSS("#page-"+page)))
			time.Sleep(300 * time.Millisecond)
			if w := str(`String(document.documentElement.scrollWidth - window.innerWidth)`); w != "0" && !strings.HasPrefix(w, "-") {
				t.Errorf("%s page is %s px wider than a 390 px phone", page, w)
			}
		}
		// Chat by keyboard alone: focus the box, type, Enter sends.
		run("keyboard chat", chromedp.Navigate(base+"/#chat"), chromedp.WaitVisible(chromedp.CSS("#chat-input")),
			chromedp.Focus(chromedp.CSS("#chat-input")), chromedp.KeyEvent("The cat"), chromedp.KeyEvent("\r"))
		until("keyboard message answered", `(() => { const u = [...document.querySelectorAll(".msg.user")]; const a = [...document.querySelectorAll(".msg.assistant")]; return u.length === 2 && u[1].textContent === "The cat" && a.length === 2 && !a[1].classList.contains("streaming") && a[1].textContent.length > 0 })()`, 2*time.Minute)
		run("desktop", chromedp.EmulateViewport(1100, 900))
	})

	t.Run("video", func(t *testing.T) {
		run("video", chromedp.Navigate(base+"/#video"))
		until("models", `document.querySelectorAll("#video-model option").length > 0`, 10*time.Second)
		if str(`String(!document.getElementById("video-go").disabled)`) != "true" {
			t.Skip("no video.generate model installed")
		}
		run("generate", chromedp.SetValue(chromedp.CSS("#video-seconds"), "1"), chromedp.Click(chromedp.CSS("#video-go")))
		until("video plays", `(() => { const v = document.querySelector("#video-results video"); return !!v && v.readyState >= 2 && v.videoWidth > 0 })()`, 8*time.Minute)
		shot("video")
	})
}
