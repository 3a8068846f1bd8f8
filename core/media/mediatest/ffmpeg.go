package mediatest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install ffmpeg; .ci/run does): cannot check the file with it", name)
	}
	return p
}

func writeTemp(t testing.TB, data []byte, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Probe is ffprobe's view of a file's first video stream, every frame
// decoded and counted.
type Probe struct {
	Codec, Profile, PixFmt, FrameRate string
	Width, Height, Frames             int
	ColourSpace, ColourRange          string
}

// ProbeVideo runs ffprobe -count_frames on data (name gives ffprobe the
// file's extension). It skips the test when ffprobe is absent and fails it
// when ffprobe cannot read the file.
func ProbeVideo(t testing.TB, data []byte, name string) Probe {
	t.Helper()
	bin := needTool(t, "ffprobe")
	path := writeTemp(t, data, name)
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,profile,width,height,nb_read_frames,pix_fmt,r_frame_rate,color_space,color_range",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", name, err, stderrOf(err))
	}
	var r struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Profile      string `json:"profile"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
			PixFmt       string `json:"pix_fmt"`
			RFrameRate   string `json:"r_frame_rate"`
			ColorSpace   string `json:"color_space"`
			ColorRange   string `json:"color_range"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v: %s", name, err, out)
	}
	s := r.Streams[0]
	n, _ := strconv.Atoi(s.NbReadFrames)
	return Probe{Codec: s.CodecName, Profile: s.Profile, PixFmt: s.PixFmt, FrameRate: s.RFrameRate,
		Width: s.Width, Height: s.Height, Frames: n, ColourSpace: s.ColorSpace, ColourRange: s.ColorRange}
}

// Decode has ffmpeg decode every frame of data to raw pixels of pixFmt
// (yuv420p, rgb24, …), frames one after another. Decoding errors, even
// ones ffmpeg would conceal, fail the test.
func Decode(t testing.TB, data []byte, name, pixFmt string) []byte {
	t.Helper()
	bin := needTool(t, "ffmpeg")
	path := writeTemp(t, data, name)
	cmd := exec.Command(bin, "-v", "error", "-xerror", "-err_detect", "explode", "-i", path,
		"-f", "rawvideo", "-pix_fmt", pixFmt, "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg decode %s: %v\n%s", name, err, stderr.String())
	}
	return stdout.Bytes()
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
