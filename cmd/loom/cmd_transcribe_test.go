package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/media/sound"
)

// TestTranscribeThroughPlugin builds loom-plugin-audio and runs loom
// transcribe on the audio plugin's tiny random Whisper
// (plugins/audio/testdata/tiny-asr): what it hears is noise, so this checks
// the command's output shapes and its errors.
func TestTranscribeThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the audio plugin")
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "plugins", "audio", "testdata"))
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-audio"), "github.com/loomhq/loom/plugins/audio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	pcm := make([]int16, 16000*4)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)*0.07*(1+0.3*math.Sin(float64(i)/4000))))
	}
	flac, err := sound.FLAC(pcm, 16000)
	if err != nil {
		t.Fatal(err)
	}
	a, b, bad := filepath.Join(dir, "a.flac"), filepath.Join(dir, "b.flac"), filepath.Join(dir, "bad.wav")
	for _, f := range []struct {
		p string
		d []byte
	}{{a, flac}, {b, flac}, {bad, []byte("RIFF\x04\x00\x00\x00WAVE")}} {
		if err := os.WriteFile(f.p, f.d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append([]string{"transcribe", "--plugins", dir, "--models", models, "--model", "tiny-asr", "--threads", "2", "--language", "en"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := run(a, b)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], a+"\t") || !strings.HasPrefix(lines[1], b+"\t") || len(lines[0]) <= len(a)+1 {
		t.Fatalf("text: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if strings.TrimPrefix(lines[0], a) != strings.TrimPrefix(lines[1], b) {
		t.Errorf("the same audio gave two texts: %q", lines)
	}
	code, out, errOut = run("--format", "json", a)
	var res struct {
		Path     string
		Duration float64
		Windows  int
		Text     string
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Path != a || res.Duration != 4 || res.Windows < 2 || res.Text == "" {
		t.Fatalf("json: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = run("--format", "srt", a)
	if code != 0 || !strings.HasPrefix(out, "1\n00:00:0") || !strings.Contains(out, " --> ") {
		t.Fatalf("srt: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = run("--format", "vtt", a, b)
	if code != 0 || !strings.HasPrefix(out, "==> "+a+" <==\nWEBVTT\n\n") || !strings.Contains(out, "==> "+b+" <==\nWEBVTT") {
		t.Fatalf("vtt: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = run(a, bad)
	if code == 0 || !strings.Contains(errOut, bad+": ") || !strings.Contains(errOut, "WAV") || !strings.HasPrefix(out, a+"\t") {
		t.Fatalf("bad file: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if code, _, errOut = run("--format", "mp3", a); code == 0 || !strings.Contains(errOut, "--format") {
		t.Fatalf("bad format: exit %d, stderr %s", code, errOut)
	}

	// loom bench transcribe: Loom's real-time factor, and PyTorch's on the
	// same folder and files when /usr/bin/python3 has torch.
	peer := ""
	if exec.Command("/usr/bin/python3", "-c", "import torch").Run() == nil {
		peer = filepath.Join("..", "..", "tools", "asr", "bench_torch.py")
	}
	var stdout, stderr bytes.Buffer
	code = runMain([]string{"bench", "transcribe", "--plugins", dir, "--models", models, "--model", "tiny-asr", "--threads", "1",
		"--rounds", "1", "--peer", peer, "--json", a}, &stdout, &stderr)
	if peer != "" { // the peer reads WAV only: the bench runs on a WAV
		wav := filepath.Join(dir, "a.wav")
		if err := os.WriteFile(wav, pcm16WAV(pcm, 16000), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout.Reset()
		stderr.Reset()
		code = runMain([]string{"bench", "transcribe", "--plugins", dir, "--models", models, "--model", "tiny-asr", "--threads", "1",
			"--rounds", "1", "--peer", peer, "--json", wav}, &stdout, &stderr)
	}
	var peers []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r struct {
			Peer string
			RTF  float64
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.RTF <= 0 {
			t.Fatalf("bench transcribe: exit %d, line %q, stderr %s", code, line, stderr.String())
		}
		peers = append(peers, r.Peer)
	}
	if want := map[bool]string{true: "loom", false: "loom pytorch"}[peer == ""]; code != 0 || strings.Join(peers, " ") != want {
		t.Fatalf("bench transcribe: exit %d, peers %q (want %q), stderr %s", code, peers, want, stderr.String())
	}
}

// pcm16WAV is mono 16-bit PCM as a canonical 44-byte-header WAV file.
func pcm16WAV(pcm []int16, rate int) []byte {
	b := make([]byte, 44, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}
