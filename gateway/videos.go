package gateway

// OpenAI's asynchronous video API over the durable queue: POST /v1/videos
// enqueues a video.generate job and answers the video object at once; the
// client polls GET /v1/videos/{id} and fetches /content when it is
// completed. Everything a video is lives in the queue (job, events,
// artifacts), so a gateway restart loses none, and any gateway answers for
// any video.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const taskVideo = tasks.VideoGenerate

// Bounds of tasks.VideoGenerateParams the gateway checks before enqueueing.
const (
	maxVideoFrames = tasks.MaxVideoFrames
	maxVideoFPS    = tasks.MaxVideoFPS
	maxVideoSteps  = tasks.MaxImageSteps
	// defaultVideoFPS turns seconds into frames when fps is not given.
	defaultVideoFPS = tasks.DefaultVideoFPS
	// maxReferenceBytes is the largest input_reference the video plugin
	// decodes (its imgproc limit).
	maxReferenceBytes = 16 << 20
)

func (s *Server) registerVideo(g *gin.RouterGroup) {
	g.POST("/videos", s.createVideo)
	g.GET("/videos", s.listVideos)
	g.GET("/videos/:id", s.getVideo)
	g.DELETE("/videos/:id", s.deleteVideo)
	g.GET("/videos/:id/content", s.videoContent)
}

// videoRequest is POST /v1/videos: OpenAI's fields (model, prompt, seconds,
// size, input_reference) and Loom's diffusion knobs.
type videoRequest struct {
	Model          string          `json:"model"`
	Prompt         string          `json:"prompt"`
	Seconds        flexNumber      `json:"seconds"`
	Size           string          `json:"size"`
	InputReference json.RawMessage `json:"input_reference"`
	NegativePrompt string          `json:"negative_prompt"`
	Frames         *int            `json:"frames"`
	FPS            *int            `json:"fps"`
	Steps          *int            `json:"steps"`
	GuidanceScale  *float64        `json:"guidance_scale"`
	Scheduler      string          `json:"scheduler"`
	Seed           *int64          `json:"seed"`
	Candidates     *int            `json:"candidates"`
}

// flexNumber accepts 4 or "4" (OpenAI sends seconds as a string).
type flexNumber struct{ v *float64 }

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var n float64
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return f.parse(s)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return badRequest("seconds: expected a number")
	}
	f.v = &n
	return nil
}

func (f *flexNumber) parse(s string) error {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return badRequest("seconds: %q is not a number", s)
	}
	f.v = &n
	return nil
}

// createVideo enqueues a video job and answers the video object at once.
// JSON bodies carry input_reference as a data: URL (or bare base64) or as
// {"image_url": …}; multipart bodies (what the SDKs send) as a file part
// named input_reference, or as the value input_reference or
// input_reference[image_url].
func (s *Server) createVideo(c *gin.Context) {
	var req videoRequest
	var ref *queue.Blob
	var err error
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		ref, err = s.formVideoRequest(c, &req)
	} else if err = decodeJSON(c, &req); err == nil {
		ref, err = jsonInputReference(req.InputReference)
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	job, err := s.videoJob(c, &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if ref != nil {
		job.Inputs = []queue.Blob{*ref}
	}
	st, _, err := s.submit(c, job)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Header("Location", "/v1/videos/"+st.Job.ID)
	c.JSON(http.StatusOK, s.videoObject(c, st))
}

// formVideoRequest reads a multipart body.
func (s *Server) formVideoRequest(c *gin.Context, req *videoRequest) (*queue.Blob, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, multipartError(err)
	}
	for name, vals := range form.Value {
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return nil, badRequest("%s: not valid UTF-8", name)
			}
		}
	}
	req.Model, req.Prompt, req.Size = c.PostForm("model"), c.PostForm("prompt"), c.PostForm("size")
	req.NegativePrompt, req.Scheduler = c.PostForm("negative_prompt"), c.PostForm("scheduler")
	if v := c.PostForm("seconds"); v != "" {
		if err := req.Seconds.parse(v); err != nil {
			return nil, err
		}
	}
	if err := firstError(formNumber(c, "frames", strconv.Atoi, &req.Frames), formNumber(c, "fps", strconv.Atoi, &req.FPS),
		formNumber(c, "steps", strconv.Atoi, &req.Steps), formNumber(c, "guidance_scale", parseFloat, &req.GuidanceScale),
		formNumber(c, "seed", parseInt64, &req.Seed), formNumber(c, "candidates", strconv.Atoi, &req.Candidates)); err != nil {
		return nil, err
	}
	files := form.File["input_reference"]
	url := firstNonEmpty(c.PostForm("input_reference"), c.PostForm("input_reference[image_url]"))
	switch {
	case len(files) > 1 || len(files) == 1 && url != "":
		return nil, badRequest("input_reference: send one image, as a file part or as an image URL")
	case c.PostForm("input_reference[file_id]") != "":
		return nil, badRequest("input_reference: file_id references are not supported; upload the image or send a data: URL")
	case len(files) == 1:
		b, err := readImagePart(files[0])
		return renamed(b, err)
	case url != "":
		return renamed(decodeImageURL(url))
	}
	return nil, nil
}

// jsonInputReference reads a JSON body's input_reference: a string (data:
// URL or base64) or an object {"image_url": …}.
func jsonInputReference(raw json.RawMessage) (*queue.Blob, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var url string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &url); err != nil {
			return nil, badRequest("input_reference: %v", err)
		}
	} else {
		var obj struct {
			ImageURL string `json:"image_url"`
			FileID   string `json:"file_id"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, badRequest("input_reference: expected a data: URL or {\"image_url\": …}")
		}
		if obj.FileID != "" {
			return nil, badRequest("input_reference: file_id references are not supported; send the image as a data: URL")
		}
		url = obj.ImageURL
	}
	if url == "" {
		return nil, badRequest("input_reference: empty; send an image")
	}
	return renamed(decodeImageURL(url))
}

// renamed names an input image's errors after input_reference, the field
// the client sent, and bounds its size.
func renamed(b queue.Blob, err error) (*queue.Blob, error) {
	if err == nil && len(b.Data) > maxReferenceBytes {
		return nil, badRequest("input_reference: %d bytes is over the %d byte limit", len(b.Data), maxReferenceBytes)
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		e := *ae
		e.Message = "input_reference: " + strings.TrimPrefix(strings.TrimPrefix(e.Message, "image: "), "file: ")
		return nil, &e
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// videoJob validates a request into a video.generate job. Seconds become
// frames at fps (default 8); size is the model's native one when absent.
func (s *Server) videoJob(c *gin.Context, req *videoRequest) (queue.Job, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		return queue.Job{}, errFieldRequired("prompt")
	}
	if n := len(req.Prompt) + len(req.NegativePrompt); n > s.cfg.MaxPromptBytes {
		return queue.Job{}, fieldTooLong("prompt", n, s.cfg.MaxPromptBytes)
	}
	p := tasks.VideoGenerateParams{Prompt: req.Prompt, Format: "both",
		Denoising: tasks.Denoising{NegativePrompt: req.NegativePrompt, GuidanceScale: req.GuidanceScale, Scheduler: req.Scheduler}}
	if err := firstError(checkIntRange("fps", req.FPS, 1, maxVideoFPS), checkIntRange("frames", req.Frames, 1, maxVideoFrames),
		checkIntRange("steps", req.Steps, 1, maxVideoSteps), checkRange("guidance_scale", req.GuidanceScale, 0, tasks.MaxGuidanceScale),
		checkIntRange("candidates", req.Candidates, 1, tasks.MaxVideoCandidates)); err != nil {
		return queue.Job{}, err
	}
	if req.Candidates != nil {
		p.Candidates = *req.Candidates
	}
	if req.Scheduler != "" && !slices.Contains(tasks.ImageSchedulers, req.Scheduler) {
		return queue.Job{}, badRequest("scheduler: %q is not one of %s", req.Scheduler, strings.Join(tasks.ImageSchedulers, ", "))
	}
	if req.FPS != nil {
		p.FPS = *req.FPS
	}
	if req.Steps != nil {
		p.Steps = *req.Steps
	}
	if req.Frames != nil {
		p.Frames = *req.Frames
	}
	if sec := req.Seconds.v; sec != nil {
		if req.Frames != nil {
			return queue.Job{}, badRequest("seconds: give seconds or frames, not both")
		}
		fps := p.FPS
		if fps == 0 {
			fps = defaultVideoFPS
			p.FPS = fps
		}
		frames := math.Round(*sec * float64(fps))
		if !(*sec > 0) || frames < 1 || frames > maxVideoFrames {
			return queue.Job{}, badRequest("seconds: %g s at %d fps is %g frames; the limit is 1…%d (%.4g s)", *sec, fps, frames, maxVideoFrames, float64(maxVideoFrames)/float64(fps))
		}
		p.Frames = int(frames)
	}
	var err error
	if p.Width, p.Height, err = s.parseSize(req.Size); err != nil {
		return queue.Job{}, err
	}
	m, err := s.models.resolve(c.Request.Context(), taskVideo, req.Model)
	if err != nil {
		return queue.Job{}, err
	}
	job := queue.Job{Task: taskVideo, Model: m.ID, Seed: seedOr(req.Seed)}
	job.Params, _ = json.Marshal(p)
	return job, nil
}

// videoStatus is OpenAI's video status vocabulary.
var videoStatus = map[queue.Status]string{
	queue.StatusQueued: "queued", queue.StatusRunning: "in_progress", queue.StatusSucceeded: "completed",
	queue.StatusFailed: "failed", queue.StatusCanceled: "failed",
}

// videoObject is OpenAI's video object for a job. Size and seconds are the
// request's; when it left them to the model, they come from the result once
// there is one (and are "" before).
func (s *Server) videoObject(c *gin.Context, st *queue.JobState) gin.H {
	var p tasks.VideoGenerateParams
	_ = json.Unmarshal(st.Job.Params, &p)
	var res tasks.VideoGenerateResult
	if st.Result != nil {
		_ = json.Unmarshal(st.Result.Output, &res)
	}
	size, seconds := "", ""
	switch {
	case p.Width > 0:
		size = fmt.Sprintf("%dx%d", p.Width, p.Height)
	case res.Width > 0:
		size = fmt.Sprintf("%dx%d", res.Width, res.Height)
	}
	switch {
	case p.Frames > 0 && p.FPS > 0:
		seconds = strconv.FormatFloat(float64(p.Frames)/float64(p.FPS), 'f', -1, 64)
	case res.Seconds > 0:
		seconds = strconv.FormatFloat(res.Seconds, 'f', -1, 64)
	}
	progress := 0
	switch st.Status {
	case queue.StatusSucceeded:
		progress = 100
	case queue.StatusRunning:
		progress = s.videoProgress(c, st.Job.ID)
	}
	v := gin.H{
		"id": st.Job.ID, "object": "video", "model": st.Job.Model, "status": videoStatus[st.Status], "progress": progress,
		"created_at": st.CreatedAt.Unix(), "completed_at": nil, "expires_at": nil, "prompt": p.Prompt,
		"size": size, "seconds": seconds, "error": nil, "remixed_from_video_id": nil,
	}
	if !st.FinishedAt.IsZero() {
		v["completed_at"] = st.FinishedAt.Unix()
		v["expires_at"] = st.FinishedAt.Add(s.cfg.ResultTTL).Unix()
	}
	if st.Status.Terminal() {
		if err := jobOutcome(st); err != nil {
			ae := toAPIError(err)
			v["error"] = gin.H{"code": ae.Code, "message": ae.Message}
		}
	}
	return v
}

// videoProgress is how far the sampler is, from the job's last progress
// event: 0…99 while it runs.
func (s *Server) videoProgress(c *gin.Context, id string) int {
	evs, err := s.q.Events(c.Request.Context(), id, 0, 0)
	if err != nil {
		return 0
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != queue.EventProgress {
			continue
		}
		var pr struct{ Step, Total int }
		if json.Unmarshal(evs[i].Data, &pr) == nil && pr.Total > 0 {
			return min(99, max(0, 100*pr.Step/pr.Total))
		}
	}
	return 0
}

// videoJobOf fetches the video named by the path, or 404: a job that is not
// a video, or one another API key made, is no video of this caller's.
func (s *Server) videoJobOf(c *gin.Context) (*queue.JobState, error) {
	id := c.Param("id")
	st, err := s.q.Get(c.Request.Context(), id)
	if errors.Is(err, queue.ErrNotFound) || err == nil && (st.Job.Task != taskVideo || !s.owns(c, st)) {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeVideoNotFound, "no video %q", id)
	}
	return st, err
}

func (s *Server) getVideo(c *gin.Context) {
	st, err := s.videoJobOf(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, s.videoObject(c, st))
}

// listVideos is GET /v1/videos: the caller's videos (its API key's, or
// without keys its address's; an admin key may name another key's id in
// owner=), newest first unless order=asc, limit 1…100 (default 20), after a
// video id.
func (s *Server) listVideos(c *gin.Context) {
	lq := queue.ListQuery{Task: taskVideo, Owner: c.GetString(ctxKeyID), After: c.Query("after"), Limit: 20, Desc: true}
	if o, ok := c.GetQuery("owner"); ok {
		// An admin key lists any key's videos by its id (the "owner" a
		// job shows, "key:…"); the parameter is refused to other keys.
		if !c.GetBool(ctxAdmin) {
			_ = c.Error(badRequest("owner: only an admin key (--admin-keys) lists other keys' videos"))
			return
		}
		lq.Owner = o
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > queue.MaxListLimit {
			_ = c.Error(badRequest("limit: %q is not an integer in [1, %d]", v, queue.MaxListLimit))
			return
		}
		lq.Limit = n
	}
	switch c.Query("order") {
	case "", "desc":
	case "asc":
		lq.Desc = false
	default:
		_ = c.Error(badRequest("order: %q is not asc or desc", c.Query("order")))
		return
	}
	jobs, more, err := s.q.List(c.Request.Context(), lq)
	if errors.Is(err, queue.ErrNotFound) {
		_ = c.Error(badRequest("after: no video %q in this list", lq.After))
		return
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	data := make([]gin.H, 0, len(jobs))
	for _, st := range jobs {
		data = append(data, s.videoObject(c, st))
	}
	resp := gin.H{"object": "list", "data": data, "has_more": more, "first_id": nil, "last_id": nil}
	if len(jobs) > 0 {
		resp["first_id"], resp["last_id"] = jobs[0].Job.ID, jobs[len(jobs)-1].Job.ID
	}
	c.JSON(http.StatusOK, resp)
}

// deleteVideo is DELETE /v1/videos/{id}: a queued or running video is
// canceled, then the video and its files are gone.
func (s *Server) deleteVideo(c *gin.Context) {
	st, err := s.videoJobOf(c)
	if err == nil {
		err = s.q.Delete(c.Request.Context(), st.Job.ID)
	}
	if errors.Is(err, queue.ErrNotFound) {
		err = apiErrorf(http.StatusNotFound, sdk.CodeVideoNotFound, "no video %q", c.Param("id"))
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": st.Job.ID, "object": "video.deleted", "deleted": true})
}

// videoVariants maps content?variant= to the artifact; the video variant
// takes format=mp4 (default) or gif.
var videoVariants = map[string]string{"thumbnail": "thumbnail.png", "spritesheet": "spritesheet.png"}

// videoContent is GET /v1/videos/{id}/content?variant=video|thumbnail|
// spritesheet[&format=mp4|gif]: the file's bytes.
func (s *Server) videoContent(c *gin.Context) {
	variant, format := c.DefaultQuery("variant", "video"), c.Query("format")
	name := videoVariants[variant]
	switch {
	case variant == "video" && (format == "" || format == "mp4"):
		name = "video.mp4"
	case variant == "video" && format == "gif":
		name = "video.gif"
	case variant == "video":
		_ = c.Error(badRequest("format: %q is not mp4 or gif", format))
		return
	case name == "":
		_ = c.Error(badRequest("variant: %q is not video, thumbnail or spritesheet", variant))
		return
	case format != "":
		_ = c.Error(badRequest("format: only the video variant has a format"))
		return
	}
	st, err := s.videoJobOf(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !st.Status.Terminal() {
		_ = c.Error(apiErrorf(http.StatusConflict, sdk.CodeVideoNotReady, "video %s is %s (progress %d%%); fetch its content once it is completed",
			st.Job.ID, videoStatus[st.Status], s.videoProgress(c, st.Job.ID)))
		return
	}
	if err := jobOutcome(st); err != nil {
		_ = c.Error(err)
		return
	}
	for _, a := range st.Result.Artifacts {
		if a.Name == name {
			c.Header("Content-Length", strconv.Itoa(len(a.Data)))
			c.Data(http.StatusOK, a.MIME, a.Data)
			return
		}
	}
	what := variant
	if variant == "video" {
		what = "format " + strings.TrimPrefix(name, "video.")
	}
	_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeContentNotFound, "video %s has no %s (it was made without it)", st.Job.ID, what))
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
