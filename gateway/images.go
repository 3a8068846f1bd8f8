package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for input validation
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const taskImageGenerate = tasks.ImageGenerate

func (s *Server) registerImages(g *gin.RouterGroup) {
	g.POST("/images/generations", s.imageGenerations)
	g.POST("/images/edits", s.imageEdits)
	g.POST("/images/captions", s.imageCaptions)
}

// imageGenRequest is OpenAI's POST /v1/images/generations body plus the
// diffusion knobs Loom's vision plugin takes.
type imageGenRequest struct {
	Model          string   `json:"model"`
	Prompt         string   `json:"prompt"`
	NegativePrompt string   `json:"negative_prompt"`
	N              *int     `json:"n"`
	Size           string   `json:"size"`
	ResponseFormat string   `json:"response_format"`
	Steps          *int     `json:"steps"`
	GuidanceScale  *float64 `json:"guidance_scale"`
	Scheduler      string   `json:"scheduler"`
	Seed           *int64   `json:"seed"`
	Strength       *float64 `json:"strength"` // /v1/images/edits only
}

func (s *Server) parseSize(size string) (int, int, error) {
	if size == "" {
		return 0, 0, nil // the model's native size
	}
	if !slices.Contains(s.cfg.ImageSizes, size) {
		return 0, 0, badRequest("size: %q is not one of %s", size, strings.Join(s.cfg.ImageSizes, ", "))
	}
	w, h, _ := strings.Cut(size, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil {
		return 0, 0, badRequest("size: %q is not WIDTHxHEIGHT", size)
	}
	return wi, hi, nil
}

func (s *Server) imageGenJob(c *gin.Context, req *imageGenRequest) (queue.Job, error) {
	if strings.TrimSpace(req.Prompt) == "" {
		return queue.Job{}, errFieldRequired("prompt")
	}
	if len(req.Prompt)+len(req.NegativePrompt) > s.cfg.MaxPromptBytes {
		return queue.Job{}, fieldTooLong("prompt", len(req.Prompt)+len(req.NegativePrompt), s.cfg.MaxPromptBytes)
	}
	p := tasks.ImageGenerateParams{Prompt: req.Prompt, N: 1,
		Denoising: tasks.Denoising{NegativePrompt: req.NegativePrompt, GuidanceScale: req.GuidanceScale}}
	if err := checkIntRange("n", req.N, 1, s.cfg.MaxImages); err != nil {
		return queue.Job{}, err
	}
	if req.N != nil {
		p.N = *req.N
	}
	var err error
	if p.Width, p.Height, err = s.parseSize(req.Size); err != nil {
		return queue.Job{}, err
	}
	if err := checkIntRange("steps", req.Steps, 1, 150); err != nil {
		return queue.Job{}, err
	}
	if req.Steps != nil {
		p.Steps = *req.Steps
	}
	if err := checkRange("guidance_scale", req.GuidanceScale, 0, 30); err != nil {
		return queue.Job{}, err
	}
	if req.Scheduler != "" && !slices.Contains(tasks.ImageSchedulers, req.Scheduler) {
		return queue.Job{}, badRequest("scheduler: %q is not one of %s", req.Scheduler, strings.Join(tasks.ImageSchedulers, ", "))
	}
	p.Scheduler = req.Scheduler
	if err := checkRange("strength", req.Strength, 0, 1); err != nil {
		return queue.Job{}, err
	}
	p.Strength = req.Strength
	switch req.ResponseFormat {
	case "", "b64_json", "url":
	default:
		return queue.Job{}, badRequest("response_format: %q is not b64_json or url", req.ResponseFormat)
	}
	m, err := s.models.resolve(c.Request.Context(), taskImageGenerate, req.Model)
	if err != nil {
		return queue.Job{}, err
	}
	job := queue.Job{Task: taskImageGenerate, Model: m.ID}
	job.Seed = seedOr(req.Seed)
	job.Params, _ = json.Marshal(p)
	return job, nil
}

func (s *Server) imageGenerations(c *gin.Context) {
	var req imageGenRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if req.Strength != nil {
		_ = c.Error(badRequest("strength: only image-to-image takes a strength; send the image to /v1/images/edits"))
		return
	}
	job, err := s.imageGenJob(c, &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.runImages(c, job, req.ResponseFormat == "url")
}

// imageEdits is OpenAI's POST /v1/images/edits: image-to-image. Multipart
// with an "image" file part and the generations fields (plus "strength",
// default 0.8) as form values, or JSON with "image" as base64 or a data: URL.
// The input is encoded by the model's VAE, noised to the strength and
// denoised towards the prompt; masks (inpainting) are not supported.
func (s *Server) imageEdits(c *gin.Context) {
	var req imageGenRequest
	var imgs []queue.Blob
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		form, in, err := multipartImages(c)
		if err == nil && (len(form.File["mask"]) > 0 || c.PostForm("mask") != "") {
			err = badRequest("mask: inpainting is not supported; send only an image")
		}
		if err == nil {
			err = formImageRequest(c, &req)
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		imgs = in
	} else {
		var body struct {
			imageGenRequest
			Image stringOrList    `json:"image"`
			Mask  json.RawMessage `json:"mask"`
		}
		if err := decodeJSON(c, &body); err != nil {
			_ = c.Error(err)
			return
		}
		if len(body.Mask) > 0 && string(body.Mask) != "null" {
			_ = c.Error(badRequest("mask: inpainting is not supported; send only an image"))
			return
		}
		if len(body.Image) == 0 {
			_ = c.Error(errFieldRequired("image"))
			return
		}
		if len(body.Image) > maxEditInputs {
			_ = c.Error(badRequest("image: %d images; at most %d", len(body.Image), maxEditInputs))
			return
		}
		for _, v := range body.Image {
			img, err := requiredImage(v)
			if err != nil {
				_ = c.Error(err)
				return
			}
			imgs = append(imgs, img)
		}
		req = body.imageGenRequest
	}
	if err := checkImagesTotal(imgs); err != nil {
		_ = c.Error(err)
		return
	}
	if req.Strength == nil {
		def := 0.8
		req.Strength = &def
	}
	job, err := s.imageGenJob(c, &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if req.N != nil && *req.N*len(imgs) > maxEditInputs {
		_ = c.Error(badRequest("n × images: %d × %d is over %d images per request", *req.N, len(imgs), maxEditInputs))
		return
	}
	job.Inputs = imgs
	s.runImages(c, job, req.ResponseFormat == "url")
}

// formImageRequest fills an image request from multipart form values; a
// number that does not parse is a 400 naming its field.
func formImageRequest(c *gin.Context, req *imageGenRequest) error {
	req.Model, req.Prompt, req.NegativePrompt = c.PostForm("model"), c.PostForm("prompt"), c.PostForm("negative_prompt")
	req.Size, req.ResponseFormat, req.Scheduler = c.PostForm("size"), c.PostForm("response_format"), c.PostForm("scheduler")
	return firstError(formNumber(c, "n", strconv.Atoi, &req.N), formNumber(c, "steps", strconv.Atoi, &req.Steps),
		formNumber(c, "guidance_scale", parseFloat, &req.GuidanceScale), formNumber(c, "strength", parseFloat, &req.Strength),
		formNumber(c, "seed", parseInt64, &req.Seed))
}

// formNumber sets *dst from the form value name when one is sent; a value
// parse refuses is a 400 naming the field.
func formNumber[T int | int64 | float64](c *gin.Context, name string, parse func(string) (T, error), dst **T) error {
	v := c.PostForm(name)
	if v == "" {
		return nil
	}
	x, err := parse(v)
	if err != nil {
		what := "an integer"
		if _, ok := any(x).(float64); ok {
			what = "a number"
		}
		return badRequest("%s: %q is not %s", name, v, what)
	}
	*dst = &x
	return nil
}

func parseInt64(v string) (int64, error)   { return strconv.ParseInt(v, 10, 64) }
func parseFloat(v string) (float64, error) { return strconv.ParseFloat(v, 64) }

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// multipartImage reads a multipart request's form and its one image file part
// named part (checked like any uploaded image).
func multipartImage(c *gin.Context, part string) (*multipart.Form, queue.Blob, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, queue.Blob{}, multipartError(err)
	}
	for name, vals := range form.Value {
		for _, v := range vals {
			if !utf8.ValidString(v) {
				return nil, queue.Blob{}, badRequest("%s: not valid UTF-8", name)
			}
		}
	}
	fhs := form.File[part]
	if len(fhs) != 1 {
		return nil, queue.Blob{}, badRequest("multipart: send exactly one %q file part", part)
	}
	img, err := readImagePart(fhs[0])
	return form, img, err
}

// maxEditInputs bounds images.edit: input images, and input images × n.
const maxEditInputs = tasks.MaxEditImages

// multipartImages reads an edits form's input images: "image" and "image[]"
// file parts (the SDKs send image[] for several), 1…16 of them, in order.
func multipartImages(c *gin.Context) (*multipart.Form, []queue.Blob, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, nil, multipartError(err)
	}
	fhs := append(append([]*multipart.FileHeader(nil), form.File["image"]...), form.File["image[]"]...)
	if len(fhs) == 0 || len(fhs) > maxEditInputs {
		return nil, nil, badRequest("multipart: send 1…%d image files as \"image\" or \"image[]\" parts (got %d)", maxEditInputs, len(fhs))
	}
	var imgs []queue.Blob
	for i, fh := range fhs {
		img, err := readImagePart(fh)
		if err != nil {
			return nil, nil, badRequest("image %d: %s", i, toAPIError(err).Message)
		}
		imgs = append(imgs, img)
	}
	return form, imgs, nil
}

// runImages runs an image.generate job and answers in OpenAI's images shape:
// data[i].b64_json (or .url, a signed link to the artifact: files.go) with
// each image's seed, and upscaled_from when enlarged.
func (s *Server) runImages(c *gin.Context, job queue.Job, asURL bool) {
	s.runSync(c, job, func(st *queue.JobState) {
		var out struct {
			RevisedPrompt string `json:"revised_prompt"`
			Images        []struct {
				Seed *int64 `json:"seed"`
			} `json:"images"`
			UpscaledFrom []int `json:"upscaled_from"`
		}
		_ = json.Unmarshal(st.Result.Output, &out)
		data := []gin.H{}
		for _, a := range st.Result.Artifacts {
			if !strings.HasPrefix(a.MIME, "image/") {
				continue
			}
			d := gin.H{"b64_json": b64(a.Data)}
			if asURL {
				d = gin.H{"url": s.fileURL(c, st.Job.ID, a.Name)}
			}
			if out.RevisedPrompt != "" {
				d["revised_prompt"] = out.RevisedPrompt
			}
			// Image i's noise seed regenerates it alone (n=1, that seed).
			if i := len(data); i < len(out.Images) && out.Images[i].Seed != nil {
				d["seed"] = *out.Images[i].Seed
			}
			data = append(data, d)
		}
		resp := gin.H{"created": st.CreatedAt.Unix(), "data": data, "id": st.Job.ID}
		// Sizes above the model's native one are sampled natively and
		// enlarged; the response says so.
		if len(out.UpscaledFrom) == 2 {
			resp["upscaled_from"] = fmt.Sprintf("%dx%d", out.UpscaledFrom[0], out.UpscaledFrom[1])
		}
		c.JSON(http.StatusOK, resp)
	})
}

// imageCaptions takes JSON {"model","image"(base64 or data URL),"prompt","max_tokens"}
// or multipart with a "file" part and the same fields as form values.
func (s *Server) imageCaptions(c *gin.Context) {
	var req struct {
		Model     string `json:"model"`
		Image     string `json:"image"`
		Prompt    string `json:"prompt"`
		MaxTokens *int   `json:"max_tokens"`
		Seed      *int64 `json:"seed"`
	}
	var img queue.Blob
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		_, in, err := multipartImage(c, "file")
		if err == nil {
			req.Model, req.Prompt = c.PostForm("model"), c.PostForm("prompt")
			err = firstError(formNumber(c, "max_tokens", strconv.Atoi, &req.MaxTokens), formNumber(c, "seed", parseInt64, &req.Seed))
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		img = in
	} else {
		if err := decodeJSON(c, &req); err != nil {
			_ = c.Error(err)
			return
		}
		var err error
		if img, err = requiredImage(req.Image); err != nil {
			_ = c.Error(err)
			return
		}
	}
	if len(req.Prompt) > s.cfg.MaxPromptBytes {
		_ = c.Error(fieldTooLong("prompt", len(req.Prompt), s.cfg.MaxPromptBytes))
		return
	}
	if err := checkIntRange("max_tokens", req.MaxTokens, 1, s.cfg.MaxTokens); err != nil {
		_ = c.Error(err)
		return
	}
	m, err := s.models.resolve(c.Request.Context(), taskCaption, req.Model)
	if err != nil {
		_ = c.Error(err)
		return
	}
	var p tasks.ImageCaptionParams // the captioner takes no prompt
	if req.MaxTokens != nil {
		p.MaxTokens = *req.MaxTokens
	}
	job := queue.Job{Task: taskCaption, Model: m.ID, Inputs: []queue.Blob{img}}
	job.Seed = seedOr(req.Seed)
	job.Params, _ = json.Marshal(p)
	s.runSync(c, job, func(st *queue.JobState) {
		out := parseTextOutput(st)
		c.JSON(http.StatusOK, gin.H{"id": st.Job.ID, "object": "image.caption", "created": st.CreatedAt.Unix(),
			"model": st.Job.Model, "caption": out.Text, "usage": out.Usage})
	})
}

func multipartError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, os.ErrDeadlineExceeded) {
		return bodyReadError(err) // too large or too slow
	}
	return badRequest("multipart: %v", err)
}

func readImagePart(fh *multipart.FileHeader) (queue.Blob, error) {
	f, err := fh.Open()
	if err != nil {
		return queue.Blob{}, badRequest("file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return queue.Blob{}, badRequest("file: %v", err)
	}
	return checkImage(data)
}

// requiredImage decodes a JSON body's "image" field, which must be sent.
func requiredImage(v string) (queue.Blob, error) {
	if v == "" {
		return queue.Blob{}, errFieldRequired("image")
	}
	return decodeImageURL(v)
}

// decodeImageURL accepts a data: URL or bare base64. Remote URLs are refused:
// the gateway does not fetch on a client's behalf.
func decodeImageURL(u string) (queue.Blob, error) {
	payload := u
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		if !found || !strings.HasSuffix(meta, ";base64") {
			return queue.Blob{}, badRequest("image: data URL must be base64 (data:image/png;base64,...)")
		}
		payload = data
	} else if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return queue.Blob{}, badRequest("image: remote URLs are not fetched; send the image as base64 or a data: URL")
	}
	data, err := decodeBase64("image", payload)
	if err != nil {
		return queue.Blob{}, err
	}
	return checkImage(data)
}

// decodeBase64 decodes a JSON field's base64 (padded or not, surrounding
// space ignored); an error is a 400 naming the field.
func decodeBase64(field, payload string) ([]byte, error) {
	payload = strings.TrimSpace(payload)
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(payload); err != nil {
			return nil, badRequest("%s: not valid base64", field)
		}
	}
	return data, nil
}

// checkImage refuses bytes that are not a PNG, JPEG or GIF of sane size, so a
// corrupt upload fails here with 400 instead of inside a plugin.
//
// Only the header is read: decoding is the plugin's work, done once there.
// A decode here cost up to 128 MiB per 130 KB upload (a 4096×4096 16-bit
// PNG), eight at once took the gateway from 29 MB to 1 GB; what an image
// decodes to is bounded from its header instead (sdk.MaxImageBytes), so a
// corrupt body past a sound header is refused by the plugin (400 as well).
func checkImage(data []byte) (queue.Blob, error) {
	cfg, format, err := imageHeader(data)
	if err != nil {
		return queue.Blob{}, err
	}
	if err := sdk.CheckImageConfig(cfg, sdk.MaxImageBytes); err != nil {
		return queue.Blob{}, badRequest("image: %s", err.(*sdk.Error).Message)
	}
	return queue.Blob{Name: "image", MIME: "image/" + format, Data: data}, nil
}

func imageHeader(data []byte) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return cfg, "", badRequest("image: not a decodable PNG, JPEG or GIF (%v)", err)
	}
	return cfg, format, nil
}

// checkImagesTotal bounds what a request's images decode to together.
func checkImagesTotal(imgs []queue.Blob) error {
	var total int64
	for _, b := range imgs {
		cfg, _, err := imageHeader(b.Data)
		if err != nil {
			return err
		}
		total += sdk.ImageBytes(cfg)
	}
	if total > sdk.MaxImageBytes {
		return badRequest("images: %d of them decode to %.1f MiB together; the limit is %d MiB", len(imgs), float64(total)/(1<<20), sdk.MaxImageBytes>>20)
	}
	return nil
}
