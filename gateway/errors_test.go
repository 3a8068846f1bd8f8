package gateway

import (
	"net/http"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

func TestErrorParam(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want string // "" for null
	}{
		{"seconds: 99 s at 8 fps is 792 frames; the limit is 1…64 (8 s)", "seconds"},
		{"messages[2].content: an image part needs image_url", "messages[2].content"},
		{"input_audio.format: \"ogg\" is not wav or mp3", "input_audio.format"},
		{"input[3]: empty string", "input[3]"},
		{"messages[].content: expected a string or an array", "messages[].content"},
		// A plugin names its params' field after "params: ".
		{"params: steps: 151 is above the maximum 150", "steps"},
		{"params: voice \"x\" is not one of alloy, nova", "voice"},
		{"params: input is required", "input"},
		{"params: \"input\" is required", "input"},
		{"params: 3 is not an object", "params"},
		{"params: json: cannot unmarshal string", ""},
		// Not a field: transport, prose, a sentence with the field elsewhere.
		{"multipart: send exactly one \"file\" part", ""},
		{"malformed JSON: unexpected end of body", ""},
		{"no video \"video_1\"", ""},
		{"model \"sora\" not found (GET /v1/models lists the models)", ""},
		{"image 2: not a PNG", ""},
		{"Content-Type \"text/plain\": send application/json", ""},
		{"", ""},
	} {
		got := paramOf(c.msg)
		if (got == nil) != (c.want == "") || (got != nil && *got != c.want) {
			t.Errorf("paramOf(%q) = %v, want %q", c.msg, got, c.want)
		}
	}
	// Only client errors name a param: a 5xx message is the server's.
	if b := apiErrorf(http.StatusInternalServerError, sdk.CodeInternal, "forward: out of memory").body(); b.Error.Param != nil {
		t.Errorf("5xx param %q", *b.Error.Param)
	}
	if b := errFieldRequired("prompt").(*APIError).body(); b.Error.Param == nil || *b.Error.Param != "prompt" {
		t.Errorf("required param %v, want prompt", b.Error.Param)
	}
	if b := badRequest("size: %q is not one of 64x64", "7x7").body(); b.Error.Param == nil || *b.Error.Param != "size" {
		t.Errorf("400 param %v, want size", b.Error.Param)
	}
	// A job's error carries the plugin's Param (sdk.Error.Param); it wins over the message.
	je := &queue.JobError{Code: sdk.CodeInvalidRequest, Message: "temperature 2 is outside 0…1", Param: "temperature"}
	if b := toAPIError(je).body(); b.Error.Param == nil || *b.Error.Param != "temperature" {
		t.Errorf("job error param %v, want temperature", b.Error.Param)
	}
	je = &queue.JobError{Code: sdk.CodeInvalidRequest, Message: "params: steps: 151 is above the maximum 150"}
	if b := toAPIError(je).body(); b.Error.Param == nil || *b.Error.Param != "steps" {
		t.Errorf("job error without Param: param %v, want steps from the message", b.Error.Param)
	}
}
