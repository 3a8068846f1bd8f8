package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// maxJobInputs bounds how many named inputs one job carries (JSON or
// multipart); the whole body is bounded by --max-body.
const maxJobInputs = 16

// readJobRequest reads POST /v1/jobs: a JSON body (inputs as base64 in
// "inputs"), or multipart/form-data whose text fields are the JSON body's
// scalar fields (task, model, seed, priority, max_attempts, timeout_s), whose
// "params" field (or file part) is the params JSON, and whose every other
// file part is one input: the part's field name is the input's name, its
// Content-Type its MIME type (sniffed from the bytes when absent or
// application/octet-stream).
func readJobRequest(c *gin.Context) (jobRequest, error) {
	var req jobRequest
	if !strings.HasPrefix(c.ContentType(), "multipart/") {
		return req, decodeJSON(c, &req)
	}
	if c.ContentType() != "multipart/form-data" {
		return req, apiErrorf(http.StatusUnsupportedMediaType, sdk.CodeUnsupportedMediaType,
			"%s: send multipart/form-data or application/json", c.ContentType())
	}
	form, err := c.MultipartForm()
	if err != nil {
		return req, multipartError(err)
	}
	one := func(name string) (string, error) {
		v := form.Value[name]
		if len(v) > 1 {
			return "", badRequest("multipart: field %q sent %d times", name, len(v))
		}
		if len(v) == 1 {
			return v[0], nil
		}
		return "", nil
	}
	for field := range form.Value {
		switch field {
		case "task", "model", "seed", "priority", "max_attempts", "timeout_s", "params":
		default:
			return req, badRequest("multipart: unknown field %q (fields: task, model, params, seed, priority, max_attempts, timeout_s; inputs are file parts)", field)
		}
	}
	var fields [7]string
	for i, name := range []string{"task", "model", "priority", "seed", "max_attempts", "timeout_s", "params"} {
		if fields[i], err = one(name); err != nil {
			return req, err
		}
	}
	req.Task, req.Model, req.Priority = fields[0], fields[1], fields[2]
	if v := fields[3]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return req, badRequest("seed: %q is not an integer", v)
		}
		req.Seed = &n
	}
	if v := fields[4]; v != "" {
		if req.MaxAttempts, err = strconv.Atoi(v); err != nil {
			return req, badRequest("max_attempts: %q is not an integer", v)
		}
	}
	if v := fields[5]; v != "" {
		if req.TimeoutS, err = strconv.ParseFloat(v, 64); err != nil {
			return req, badRequest("timeout_s: %q is not a number", v)
		}
	}
	if v := fields[6]; v != "" {
		req.Params = json.RawMessage(v)
	}
	if fhs := form.File["params"]; len(fhs) > 0 {
		if len(fhs) > 1 || req.Params != nil {
			return req, badRequest("multipart: params sent more than once")
		}
		if req.Params, err = readPart(fhs[0]); err != nil {
			return req, err
		}
	}
	n := 0
	for _, fhs := range form.File {
		n += len(fhs)
	}
	if n > maxJobInputs+1 {
		return req, badRequest("multipart: %d file parts; a job takes at most %d inputs", n, maxJobInputs)
	}
	// Parts in the order of their names, so the job is the same bytes
	// whatever order the client's library wrote them in.
	names := make([]string, 0, len(form.File))
	for field := range form.File {
		if field != "params" {
			names = append(names, field)
		}
	}
	slices.Sort(names)
	for _, field := range names {
		for _, fh := range form.File[field] {
			b, err := readPart(fh)
			if err != nil {
				return req, err
			}
			mt := fh.Header.Get("Content-Type")
			if t, _, err := mime.ParseMediaType(mt); err != nil || t == "application/octet-stream" {
				mt = http.DetectContentType(b)
			}
			req.Inputs = append(req.Inputs, blobJSON{Name: field, MIME: mt, Data: b})
		}
	}
	return req, nil
}

// readPart reads one file part (the form bounds it: the whole body is
// under --max-body).
func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, badRequest("multipart part %q: %v", fh.Filename, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, badRequest("multipart part %q: %v", fh.Filename, err)
	}
	return b, nil
}

// checkInputs refuses inputs without a sane name or MIME type.
func checkInputs(in []blobJSON) error {
	if len(in) > maxJobInputs {
		return badRequest("inputs: %d inputs; a job takes at most %d", len(in), maxJobInputs)
	}
	for i, b := range in {
		switch {
		case b.Name == "" || b.MIME == "":
			return badRequest("inputs[%d]: name and mime are required", i)
		case len(b.Name) > 64 || !validArtifactName(b.Name):
			return badRequest("inputs[%d]: name %q: use 1…64 letters, digits, '.', '-' or '_'", i, b.Name)
		}
		if _, _, err := mime.ParseMediaType(b.MIME); err != nil || !strings.Contains(b.MIME, "/") {
			return badRequest("inputs[%d] (%s): mime %q is not a media type", i, b.Name, b.MIME)
		}
	}
	return nil
}

// validArtifactName: names of inputs and artifacts travel in URLs and
// Content-Disposition headers.
func validArtifactName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '[' || r == ']') {
			return false
		}
	}
	return true
}

// jobArtifact is GET /v1/jobs/{id}/artifacts/{name}: the artifact's bytes
// with its MIME type. With API keys, only the key that made the job may read
// it (another key gets job_not_found, as if the job did not exist).
func (s *Server) jobArtifact(c *gin.Context) {
	id, name := c.Param("id"), c.Param("name")
	st, err := s.q.Get(c.Request.Context(), id)
	if errors.Is(err, queue.ErrNotFound) || err == nil && len(s.cfg.APIKeys) > 0 && st.Job.Owner != c.GetString(ctxKeyID) {
		_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeJobNotFound, "no job %q", id))
		return
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	if st.Status != queue.StatusSucceeded {
		if err := jobOutcome(st); err != nil && st.Status.Terminal() {
			_ = c.Error(err)
			return
		}
		_ = c.Error(apiErrorf(http.StatusConflict, sdk.CodeJobNotReady, "job %s is %s; its artifacts exist once it succeeded", id, st.Status))
		return
	}
	names := make([]string, 0, len(st.Result.Artifacts))
	for _, a := range st.Result.Artifacts {
		if a.Name == name {
			c.Header("Content-Length", strconv.Itoa(len(a.Data)))
			if validArtifactName(a.Name) {
				c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
			}
			c.Header("X-Content-Type-Options", "nosniff")
			c.Data(http.StatusOK, a.MIME, a.Data)
			return
		}
		names = append(names, a.Name)
	}
	list := "it has none"
	if len(names) > 0 {
		list = "it has " + strings.Join(names, ", ")
	}
	_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeArtifactNotFound, "job %s has no artifact %q (%s)", id, name, list))
}
