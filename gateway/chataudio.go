package gateway

// Chat with spoken input, in OpenAI's shape: a user message's content part
// {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"}}
// is transcribed by an audio.transcribe job (the default transcription
// model), and its transcript takes the part's place in the message text; the
// chat job that follows answers the message as if it had been typed. One
// job chains into the next: the transcription must succeed before the chat
// job is queued, and a transcription that fails (audio it cannot read, no
// transcription model) fails the request with that job's error. Each
// transcription's job id comes back in X-Loom-Transcription-Job-Id.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

// maxChatAudioParts bounds the transcriptions one chat request may queue.
const maxChatAudioParts = 4

// chatAudio is one input_audio part as sent.
type chatAudio struct {
	Data   string // base64
	Format string // wav, mp3 (OpenAI's two) or flac
}

// blob decodes the part and checks that it is audio Loom reads.
func (a chatAudio) blob() (queue.Blob, error) {
	switch strings.ToLower(a.Format) {
	case "wav", "mp3", "flac":
	default:
		return queue.Blob{}, badRequest("input_audio.format: %q is not wav, mp3 or flac", a.Format)
	}
	if len(a.Data) > base64.StdEncoding.EncodedLen(maxAudioUpload) {
		return queue.Blob{}, apiErrorf(http.StatusRequestEntityTooLarge, sdk.CodeRequestTooLarge,
			"input_audio.data: over %d bytes of audio", maxAudioUpload)
	}
	data, err := decodeBase64("input_audio.data", a.Data)
	if err != nil {
		return queue.Blob{}, err
	}
	if len(data) == 0 {
		return queue.Blob{}, badRequest("input_audio.data: the audio is empty")
	}
	mime := audioMIME(data, "")
	if mime == "" {
		return queue.Blob{}, badRequest("input_audio.data: not audio: send WAV, MP3 or FLAC (the first bytes are % x)", data[:min(len(data), 8)])
	}
	return queue.Blob{Name: tasks.InputAudio, MIME: mime, Data: data}, nil
}

// transcribeChatAudio replaces every input_audio part of req's messages by
// its transcript, running one audio.transcribe job per part in order.
func (s *Server) transcribeChatAudio(c *gin.Context, req *chatRequest) error {
	n := 0
	for i, m := range req.Messages {
		if len(m.Content.Audio) == 0 {
			continue
		}
		if m.Role != "user" {
			return badRequest("messages[%d]: input_audio parts belong in user messages (this one is %s)", i, m.Role)
		}
		if len(m.Content.Images) > 0 {
			return badRequest("messages[%d]: send an image or audio, not both", i)
		}
		n += len(m.Content.Audio)
	}
	if n == 0 {
		return nil
	}
	if n > maxChatAudioParts {
		return badRequest("messages: at most %d input_audio parts per request (got %d)", maxChatAudioParts, n)
	}
	ctx := c.Request.Context()
	// The text model is checked first, so a wrong one costs no transcription.
	if _, err := s.models.resolve(ctx, taskChat, req.Model); err != nil {
		return err
	}
	asr, err := s.models.resolve(ctx, taskTranscribe, "")
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == sdk.CodeModelNotFound {
			return apiErrorf(http.StatusServiceUnavailable, sdk.CodeModelUnavailable,
				"messages: input_audio needs a speech-to-text model (task %s) and none is served", taskTranscribe)
		}
		return err
	}
	params, _ := json.Marshal(tasks.AudioTranscribeParams{})
	for i := range req.Messages {
		cc := &req.Messages[i].Content
		if len(cc.Audio) == 0 {
			continue
		}
		var transcripts []string
		for _, a := range cc.Audio {
			blob, err := a.blob()
			if err != nil {
				return err
			}
			job := queue.Job{Task: taskTranscribe, Model: asr.ID, Seed: seedOr(req.Seed), Params: params, Inputs: []queue.Blob{blob}}
			st, _, err := s.submit(c, job)
			if err != nil {
				return err
			}
			c.Writer.Header().Add("X-Loom-Transcription-Job-Id", st.Job.ID)
			st, err = s.awaitJob(c, st)
			if errors.Is(err, errStillRunning) {
				return apiErrorf(http.StatusGatewayTimeout, sdk.CodeTimeout,
					"messages: the transcription of input_audio is still running (job %s); send its text instead", st.Job.ID)
			}
			if err != nil {
				return err
			}
			var out tasks.AudioTranscribeResult
			if err := json.Unmarshal(st.Result.Output, &out); err != nil {
				return apiErrorf(http.StatusInternalServerError, sdk.CodeInternal, "transcription job %s: %v", st.Job.ID, err)
			}
			transcripts = append(transcripts, strings.TrimSpace(out.Text))
		}
		cc.join(transcripts)
	}
	return nil
}
