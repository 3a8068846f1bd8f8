package tasks

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
)

func TestEverySpecCompiles(t *testing.T) {
	for _, name := range Names() {
		s, ok := Spec(name)
		if !ok || s.Task != name {
			t.Fatalf("Spec(%s) = %+v, %v", name, s, ok)
		}
		if _, err := schema.Compile(s.Params); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, ok := Spec("image.grayscale"); ok {
		t.Error("a task this package does not define has a spec")
	}
}

func TestDecodeBuiltInParams(t *testing.T) {
	var tc TextCompleteParams
	if err := sdk.DecodeParams(json.RawMessage(`{"prompt":"","max_tokens":5,"stop":"x"}`), &tc); err != nil {
		t.Fatal(err)
	}
	if tc.Prompt != "" || *tc.MaxTokens != 5 || !reflect.DeepEqual(tc.Stop, Stop{"x"}) {
		t.Fatalf("decoded %+v", tc)
	}
	var chat TextChatParams
	if err := sdk.DecodeParams(json.RawMessage(`{"messages":[{"role":"user","content":"hi"}],"stop":["a","b"],"temperature":0}`), &chat); err != nil {
		t.Fatal(err)
	}
	if len(chat.Messages) != 1 || *chat.Temperature != 0 || len(chat.Stop) != 2 {
		t.Fatalf("decoded %+v", chat)
	}
	for _, c := range []struct {
		params any
		raw    string
		want   string
		param  string // the error's Param: the field at fault
	}{
		{&TextCompleteParams{}, `{}`, `params: "prompt" is required`, "prompt"},
		{&TextCompleteParams{}, `{"prompt":"a","messages":[]}`, "params: messages: unknown key", "messages"},
		{&TextChatParams{}, `{"messages":[]}`, "params: messages: needs at least 1 items", "messages"},
		{&TextChatParams{}, `{"messages":[{"role":"robot","content":"x"}]}`, `params: messages[0].role: "robot" is not one of`, "messages[0].role"},
		{&TextCompleteParams{}, `{"prompt":"a","stop":["1","2","3","4","5","6","7","8","9"]}`, "params: stop: matches none", "stop"},
		{&ImageGenerateParams{}, `{"prompt":"a","steps":151}`, "params: steps: 151 is above the maximum 150", "steps"},
		{&ImageGenerateParams{}, `{"prompt":"a","scheduler":"plms"}`, `params: scheduler: "plms" is not one of "ddim", "euler", "euler_a", "dpmpp_2m"`, "scheduler"},
		{&ImageGenerateParams{}, `{"prompt":""}`, "params: prompt: must not be empty", "prompt"},
		{&ImageCaptionParams{}, `{"temperature":1}`, "params: temperature: unknown key (known: beam, max_tokens, prompt)", "temperature"},
		{&ImageCaptionParams{}, `{"beam":9}`, "params: beam: 9 is above the maximum 8", "beam"},
		{&AudioSpeechParams{}, `{"input":"hi","format":"opus"}`, `params: format: "opus" is not one of "wav", "pcm", "flac", "mp3"`, "format"},
		{&AudioSpeechParams{}, `{"input":"hi","speed":0.1}`, "params: speed: 0.1 is below the minimum 0.25", "speed"},
		{&AudioSpeechParams{}, `[1]`, "params: expected object, got array", ""},
	} {
		err := sdk.DecodeParams(json.RawMessage(c.raw), c.params)
		if !sdk.IsCode(err, sdk.CodeInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T %s: got %v, want invalid_request containing %q", c.params, c.raw, err, c.want)
		}
		var se *sdk.Error
		if errors.As(err, &se) && se.Param != c.param {
			t.Errorf("%T %s: Param %q, want %q", c.params, c.raw, se.Param, c.param)
		}
	}
	// Empty and null params are the empty object.
	var cap ImageCaptionParams
	for _, raw := range []string{"", "null", " {} "} {
		if err := sdk.DecodeParams(json.RawMessage(raw), &cap); err != nil {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

// The generated schema names the same keys encoding/json writes, so what
// the gateway builds always passes what the plugin checks.
func TestMarshalledParamsPassTheirSchema(t *testing.T) {
	one, half := 1, 0.5
	for task, v := range map[string]any{
		TextComplete:  TextCompleteParams{Prompt: "x", Sampling: Sampling{MaxTokens: &one, TopP: &half, Stop: Stop{"a"}}},
		TextChat:      TextChatParams{Messages: []Message{{Role: "user", Content: "hi"}}},
		ImageGenerate: ImageGenerateParams{Prompt: "x", Denoising: Denoising{Steps: 3, GuidanceScale: &half, Scheduler: "ddim"}, N: 2, Strength: &half, PreviewEvery: &one, Timings: true},
		VideoGenerate: VideoGenerateParams{Prompt: "x", Denoising: Denoising{NegativePrompt: "y", Steps: 3}, Frames: 8, FPS: 4, Format: "gif", PreviewEvery: &one},
		ImageCaption:  ImageCaptionParams{Beam: 2, MaxTokens: 9},
		AudioSpeech:   AudioSpeechParams{Input: "hi", Voice: "nova", Speed: &half, Format: "pcm"},
	} {
		spec, _ := Spec(task)
		s, err := schema.Compile(spec.Params)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(v)
		if err := s.Validate(raw); err != nil {
			t.Errorf("%s: %s: %v", task, raw, err)
		}
	}
}

func TestBoundsMatchTags(t *testing.T) {
	spec, _ := Spec(ImageGenerate)
	var sch struct {
		Properties map[string]struct {
			Maximum float64  `json:"maximum"`
			Enum    []string `json:"enum"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(spec.Params, &sch); err != nil {
		t.Fatal(err)
	}
	p := sch.Properties
	if p["steps"].Maximum != MaxImageSteps || p["guidance_scale"].Maximum != MaxGuidanceScale || p["n"].Maximum != MaxImages ||
		!reflect.DeepEqual(p["scheduler"].Enum, ImageSchedulers) {
		t.Fatalf("tags and constants disagree: %+v", p)
	}
	vspec, _ := Spec(VideoGenerate)
	sch.Properties = nil
	if err := json.Unmarshal(vspec.Params, &sch); err != nil {
		t.Fatal(err)
	}
	v := sch.Properties
	if v["frames"].Maximum != MaxVideoFrames || v["fps"].Maximum != MaxVideoFPS || v["steps"].Maximum != MaxImageSteps ||
		v["guidance_scale"].Maximum != MaxGuidanceScale || !reflect.DeepEqual(v["scheduler"].Enum, ImageSchedulers) ||
		!reflect.DeepEqual(v["format"].Enum, VideoFormats) || v["candidates"].Maximum != MaxVideoCandidates {
		t.Fatalf("video tags and constants disagree: %+v", v)
	}
}

func TestTranscriptSubtitles(t *testing.T) {
	r := AudioTranscribeResult{Segments: []TranscriptSegment{
		{Start: 0, End: 2.5, Text: " Hello there."}, {Start: 3661.0416, End: 3662.9995, Text: " Second line "}}}
	srt := "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,042 --> 01:01:03,000\nSecond line\n\n"
	if got := r.SRT(); got != srt {
		t.Errorf("SRT:\n%q\nwant\n%q", got, srt)
	}
	vtt := "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n01:01:01.042 --> 01:01:03.000\nSecond line\n\n"
	if got := r.VTT(); got != vtt {
		t.Errorf("VTT:\n%q\nwant\n%q", got, vtt)
	}
}
