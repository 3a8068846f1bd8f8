package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpeakThroughPlugin builds loom-plugin-audio and runs loom speak and
// loom bench speech through the plugin host on the audio plugin's tiny test
// model (plugins/audio/testdata/tiny-tts: the random-init towers of the
// PyTorch goldens): the same text gives the same WAV bytes from two plugin
// processes.
func TestSpeakThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the audio plugin")
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "plugins", "audio", "testdata"))
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-audio"), "github.com/loomhq/loom/plugins/audio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	common := []string{"--plugins", dir, "--models", models, "--model", "tiny-tts", "--threads", "2"}
	run := func(cmd string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append(append(strings.Fields(cmd), common...), args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	a, b, c := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav"), filepath.Join(dir, "c.wav")
	for _, f := range []struct{ path, voice string }{{a, "ada"}, {b, "ada"}, {c, "cy"}} {
		code, stdout, stderr := run("speak", "--text", "Hello world. Bye!", "--voice", f.voice, "--out", f.path)
		if code != 0 || !strings.HasPrefix(stdout, f.path+"\t") || !strings.HasSuffix(stdout, "s\tHello world. Bye!\n") {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
	}
	wa, wb, wc := readFile(t, a), readFile(t, b), readFile(t, c)
	if !bytes.Equal(wa, wb) {
		t.Error("two processes, same text and voice: different WAV bytes")
	}
	if bytes.Equal(wa, wc) {
		t.Error("voices ada and cy gave the same WAV")
	}
	if len(wa) < 1000 || string(wa[:4]) != "RIFF" || string(wa[8:12]) != "WAVE" {
		t.Fatalf("not a WAV: %d bytes, %q", len(wa), wa[:min(12, len(wa))])
	}

	// Formats: from --out's extension, or --format; mp3 is MPEG-2 Layer III
	// (sync 0xFFF3), flac starts fLaC, pcm is raw 16-bit samples.
	for _, f := range []struct{ path, format, magic string }{
		{filepath.Join(dir, "d.mp3"), "", "\xff\xf3"}, {filepath.Join(dir, "d.flac"), "", "fLaC"},
		{filepath.Join(dir, "d.audio"), "mp3", "\xff\xf3"}, {filepath.Join(dir, "d.raw"), "", "RIFF"},
	} {
		args := []string{"--text", "Hello world.", "--out", f.path}
		if f.format != "" {
			args = append(args, "--format", f.format)
		}
		if code, _, stderr := run("speak", args...); code != 0 {
			t.Fatalf("%s: exit %d, %s", f.path, code, stderr)
		}
		if got := readFile(t, f.path); !strings.HasPrefix(string(got), f.magic) {
			t.Errorf("%s (--format %q): starts % x, want %q", f.path, f.format, got[:min(4, len(got))], f.magic)
		}
	}
	if code, _, stderr := run("speak", "--text", "Hi.", "--out", filepath.Join(dir, "p.pcm")); code != 0 || len(readFile(t, filepath.Join(dir, "p.pcm")))%2 != 0 {
		t.Fatalf("pcm: exit %d %s", code, stderr)
	}

	texts := filepath.Join(dir, "texts.txt")
	os.WriteFile(texts, []byte("One two three.\n\nFour five six?\n"), 0o644)
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := run("speak", "--texts-file", texts, "--out-dir", out); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("texts file: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for _, name := range []string{"000.wav", "001.wav"} {
		if w := readFile(t, filepath.Join(out, name)); string(w[:4]) != "RIFF" {
			t.Errorf("%s is not a WAV", name)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "002.wav")); err == nil {
		t.Error("a blank line made a file")
	}

	for name, c := range map[string]struct {
		args []string
		code int
		msg  string
	}{
		"no output":       {[]string{"--text", "x"}, 2, "--out"},
		"both inputs":     {[]string{"--text", "x", "--texts-file", texts, "--out", a}, 2, "not both"},
		"out-dir for one": {[]string{"--text", "x", "--out-dir", out}, 2, "--out FILE.wav"},
		"nothing":         {nil, 2, "--text"},
		"speed":           {[]string{"--text", "x", "--out", a, "--speed", "9"}, 2, "--speed"},
		"stray argument":  {[]string{"--text", "x", "--out", a, "extra"}, 2, "unexpected"},
		"bad voice":       {[]string{"--text", "x", "--out", filepath.Join(dir, "bad.wav"), "--voice", "zed"}, 1, "ada, bo, cy"},
		"unspeakable":     {[]string{"--text", "!!!", "--out", filepath.Join(dir, "bad.wav")}, 1, "nothing to say"},
		"missing file":    {[]string{"--texts-file", filepath.Join(dir, "none.txt"), "--out-dir", out}, 1, "none.txt"},
		"opus":            {[]string{"--text", "x", "--out", a, "--format", "opus"}, 2, "--format must be wav, flac, mp3 or pcm"},
	} {
		code, _, stderr := run("speak", c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", name, code, c.code, stderr, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.wav")); err == nil {
		t.Error("a failed job wrote a file")
	}

	code, stdout, stderr := run("bench speech", "--rounds", "1", "--json")
	if code != 0 {
		t.Fatalf("bench speech: exit %d, %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("bench speech output %q: %v", stdout, err)
	}
	if rtf, _ := res["real_time_factor"].(float64); !(rtf > 0) {
		t.Errorf("real_time_factor %v", res["real_time_factor"])
	}
	if f, _ := res["ms_first_audio"].(float64); !(f > 0) {
		t.Errorf("ms_first_audio %v", res["ms_first_audio"])
	}
	if res["jobs"] != float64(len(benchSpeechTexts)) || res["voice"] != "bo" {
		t.Errorf("bench result %v", res)
	}
}
