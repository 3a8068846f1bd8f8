package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const taskSpeech = tasks.AudioSpeech

func (s *Server) registerAudio(g *gin.RouterGroup) {
	g.POST("/audio/speech", s.audioSpeech)
	g.POST("/audio/transcriptions", s.audioTranscriptions)
}

// maxSpeechInput is OpenAI's limit on a speech request's input (4096
// characters), which the audio plugin also applies, in bytes.
const maxSpeechInput = 4096

// audioSpeech answers OpenAI's POST /v1/audio/speech with the audio bytes.
func (s *Server) audioSpeech(c *gin.Context) {
	var req struct {
		Model          string   `json:"model"`
		Input          string   `json:"input"`
		Voice          string   `json:"voice"`
		ResponseFormat string   `json:"response_format"`
		Speed          *float64 `json:"speed"`
		Seed           *int64   `json:"seed"`
	}
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if strings.TrimSpace(req.Input) == "" {
		_ = c.Error(errFieldRequired("input"))
		return
	}
	if len(req.Input) > maxSpeechInput {
		_ = c.Error(fieldTooLong("input", len(req.Input), maxSpeechInput))
		return
	}
	if len(req.Voice) > 64 {
		_ = c.Error(badRequest("voice: longer than 64 bytes"))
		return
	}
	switch req.ResponseFormat {
	case "":
		req.ResponseFormat = "wav"
	case "wav", "pcm", "flac", "mp3":
	case "opus", "aac":
		// No well-kept pure-Go encoder exists for either (docs/ARCHITECTURE.md, "Speech").
		_ = c.Error(badRequest("response_format: %s is not available in Loom; use mp3, wav, flac or pcm", req.ResponseFormat))
		return
	default:
		_ = c.Error(badRequest("response_format: %q is not mp3, wav, flac or pcm", req.ResponseFormat))
		return
	}
	if err := checkRange("speed", req.Speed, 0.25, 4); err != nil {
		_ = c.Error(err)
		return
	}
	m, err := s.models.resolve(c.Request.Context(), taskSpeech, req.Model)
	if err != nil {
		_ = c.Error(err)
		return
	}
	job := queue.Job{Task: taskSpeech, Model: m.ID}
	job.Seed = seedOr(req.Seed)
	job.Params, _ = json.Marshal(tasks.AudioSpeechParams{Input: req.Input, Voice: req.Voice, Speed: req.Speed, Format: req.ResponseFormat})
	s.runSync(c, job, func(st *queue.JobState) {
		a := firstArtifact(st, "audio/")
		if a == nil {
			_ = c.Error(&queue.JobError{Code: sdk.CodeInternal, Message: "speech job produced no audio"})
			return
		}
		c.Header("X-Loom-Job-Id", st.Job.ID)
		// Raw pcm carries no header of its own: say its rate (24000, as OpenAI documents).
		var out struct {
			SampleRate int `json:"sample_rate"`
		}
		if json.Unmarshal(st.Result.Output, &out) == nil && out.SampleRate > 0 {
			c.Header("X-Loom-Sample-Rate", strconv.Itoa(out.SampleRate))
		}
		c.Data(http.StatusOK, a.MIME, a.Data)
	})
}

func firstArtifact(st *queue.JobState, mimePrefix string) *queue.Blob {
	if st.Result == nil {
		return nil
	}
	for i := range st.Result.Artifacts {
		if strings.HasPrefix(st.Result.Artifacts[i].MIME, mimePrefix) {
			return &st.Result.Artifacts[i]
		}
	}
	return nil
}
