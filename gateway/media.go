package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/queue"
)

const (
	taskSpeech = "audio.speech"
	taskVideo  = "video.generate"
)

func (s *Server) registerAudio(g *gin.RouterGroup) {
	g.POST("/audio/speech", s.audioSpeech)
}

func (s *Server) registerVideo(g *gin.RouterGroup) {
	g.POST("/videos", s.createVideo)
	g.GET("/videos/:id", s.getVideo)
	g.GET("/videos/:id/content", s.videoContent)
}

// maxSpeechInput is OpenAI's limit on a speech request's input (4096
// characters), which the audio plugin also applies, in bytes.
const maxSpeechInput = 4096

// speechParams is the audio.speech job params.
type speechParams struct {
	Input  string   `json:"input"`
	Voice  string   `json:"voice,omitempty"`
	Speed  *float64 `json:"speed,omitempty"`
	Format string   `json:"format"`
}

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
	case "wav", "pcm":
	default:
		_ = c.Error(badRequest("response_format: %q is not supported; use wav or pcm (16-bit mono)", req.ResponseFormat))
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
	job.Params, _ = json.Marshal(speechParams{Input: req.Input, Voice: req.Voice, Speed: req.Speed, Format: req.ResponseFormat})
	s.runSync(c, job, func(st *queue.JobState) {
		a := firstArtifact(st, "audio/")
		if a == nil {
			_ = c.Error(&queue.JobError{Code: "internal", Message: "speech job produced no audio"})
			return
		}
		c.Header("X-Loom-Job-Id", st.Job.ID)
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

// videoParams is the video.generate job params.
type videoParams struct {
	Prompt string `json:"prompt"`
	Frames int    `json:"frames"`
	FPS    int    `json:"fps"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Steps  int    `json:"steps,omitempty"`
	Format string `json:"format"` // "gif" or "mp4"
}

// flexNumber accepts 4 or "4" (OpenAI sends seconds as a string).
type flexNumber struct{ v *float64 }

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return badRequest("seconds: %q is not a number", s)
		}
		f.v = &n
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return badRequest("seconds: expected a number")
	}
	f.v = &n
	return nil
}

// createVideo enqueues a video job and answers at once (OpenAI's video API is
// asynchronous: poll GET /v1/videos/{id}, then fetch /content).
func (s *Server) createVideo(c *gin.Context) {
	var req struct {
		Model   string     `json:"model"`
		Prompt  string     `json:"prompt"`
		Seconds flexNumber `json:"seconds"`
		Size    string     `json:"size"`
		FPS     *int       `json:"fps"`
		Steps   *int       `json:"steps"`
		Format  string     `json:"format"`
		Seed    *int64     `json:"seed"`
	}
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if strings.TrimSpace(req.Prompt) == "" {
		_ = c.Error(errFieldRequired("prompt"))
		return
	}
	if len(req.Prompt) > s.cfg.MaxPromptBytes {
		_ = c.Error(fieldTooLong("prompt", len(req.Prompt), s.cfg.MaxPromptBytes))
		return
	}
	p := videoParams{Prompt: req.Prompt, FPS: 8, Format: "gif"}
	if err := checkIntRange("fps", req.FPS, 1, 30); err != nil {
		_ = c.Error(err)
		return
	}
	if req.FPS != nil {
		p.FPS = *req.FPS
	}
	seconds := 2.0
	if req.Seconds.v != nil {
		seconds = *req.Seconds.v
	}
	if err := checkRange("seconds", &seconds, 0.1, 10); err != nil {
		_ = c.Error(err)
		return
	}
	p.Frames = max(1, int(seconds*float64(p.FPS)+0.5))
	if p.Frames > 120 {
		_ = c.Error(badRequest("seconds × fps: %d frames is over the 120 frame limit", p.Frames))
		return
	}
	size := req.Size
	if size == "" {
		size = "128x128"
	}
	var err error
	if p.Width, p.Height, err = s.parseSize(size); err != nil {
		_ = c.Error(err)
		return
	}
	if err := checkIntRange("steps", req.Steps, 1, 200); err != nil {
		_ = c.Error(err)
		return
	}
	if req.Steps != nil {
		p.Steps = *req.Steps
	}
	switch req.Format {
	case "", "gif":
	case "mp4":
		p.Format = "mp4"
	default:
		_ = c.Error(badRequest("format: %q is not gif or mp4", req.Format))
		return
	}
	m, err := s.models.resolve(c.Request.Context(), taskVideo, req.Model)
	if err != nil {
		_ = c.Error(err)
		return
	}
	job := queue.Job{Task: taskVideo, Model: m.ID}
	job.Seed = seedOr(req.Seed)
	job.Params, _ = json.Marshal(p)
	st, _, err := s.submit(c, job)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Location", "/v1/videos/"+st.Job.ID)
	c.JSON(http.StatusOK, s.videoObject(c, st))
}

// videoStatus is OpenAI's video status vocabulary.
var videoStatus = map[queue.Status]string{
	queue.StatusQueued: "queued", queue.StatusRunning: "in_progress", queue.StatusSucceeded: "completed",
	queue.StatusFailed: "failed", queue.StatusCanceled: "failed",
}

func (s *Server) videoObject(c *gin.Context, st *queue.JobState) gin.H {
	var p videoParams
	_ = json.Unmarshal(st.Job.Params, &p)
	progress := 0
	switch st.Status {
	case queue.StatusSucceeded:
		progress = 100
	case queue.StatusRunning:
		// The last progress event says how far the sampler is.
		if evs, err := s.q.Events(c.Request.Context(), st.Job.ID, 0, 0); err == nil {
			for _, e := range evs {
				if e.Type != queue.EventProgress {
					continue
				}
				var pr struct{ Step, Total int }
				if json.Unmarshal(e.Data, &pr) == nil && pr.Total > 0 {
					progress = min(99, 100*pr.Step/pr.Total)
				}
			}
		}
	}
	v := gin.H{
		"id": st.Job.ID, "object": "video", "created_at": st.CreatedAt.Unix(), "status": videoStatus[st.Status],
		"model": st.Job.Model, "progress": progress, "size": strconv.Itoa(p.Width) + "x" + strconv.Itoa(p.Height),
		"seconds": strconv.FormatFloat(float64(p.Frames)/float64(max(1, p.FPS)), 'f', -1, 64),
	}
	if !st.FinishedAt.IsZero() {
		v["completed_at"] = st.FinishedAt.Unix()
	}
	if err := jobOutcome(st); err != nil && st.Status.Terminal() {
		ae := toAPIError(err)
		v["error"] = gin.H{"code": ae.Code, "message": ae.Message}
	}
	return v
}

// videoJob fetches a job and makes sure it is a video job.
func (s *Server) videoJob(c *gin.Context) (*queue.JobState, error) {
	st, err := s.q.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	if st.Job.Task != taskVideo {
		return nil, apiErrorf(http.StatusNotFound, "job_not_found", "no video %q", c.Param("id"))
	}
	return st, nil
}

func (s *Server) getVideo(c *gin.Context) {
	st, err := s.videoJob(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, s.videoObject(c, st))
}

func (s *Server) videoContent(c *gin.Context) {
	st, err := s.videoJob(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !st.Status.Terminal() {
		_ = c.Error(apiErrorf(http.StatusConflict, "video_not_ready", "video %s is %s", st.Job.ID, videoStatus[st.Status]))
		return
	}
	if err := jobOutcome(st); err != nil {
		_ = c.Error(err)
		return
	}
	a := firstArtifact(st, "")
	if a == nil {
		_ = c.Error(&queue.JobError{Code: "internal", Message: "video job produced no file"})
		return
	}
	c.Data(http.StatusOK, a.MIME, a.Data)
}
