package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

// embeddingsRequest is OpenAI's POST /v1/embeddings body.
type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"` // "float" (default) or "base64"
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
}

// embeddingInputs reads OpenAI's input: a string, an array of strings, an
// array of token ids or an array of such arrays. Token ids are passed to
// the model as its own ids, as llama.cpp's server takes them (OpenAI's are
// cl100k ids, which mean nothing to another model's vocabulary); a model
// that reads text only refuses them.
func embeddingInputs(raw json.RawMessage) ([]string, [][]int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil, errFieldRequired("input")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil, nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err == nil {
		return nil, [][]int{ids}, nil
	}
	var lists [][]int
	if err := json.Unmarshal(raw, &lists); err == nil {
		return nil, lists, nil
	}
	return nil, nil, badRequest("input: expected a string, an array of strings, an array of token ids or an array of token-id arrays")
}

func (s *Server) registerEmbeddings(g *gin.RouterGroup) {
	g.POST("/embeddings", s.embeddings)
}

func (s *Server) embeddings(c *gin.Context) {
	var req embeddingsRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	inputs, tokens, err := embeddingInputs(req.Input)
	if err != nil {
		_ = c.Error(err)
		return
	}
	switch n := len(inputs) + len(tokens); {
	case n == 0:
		err = badRequest("input: the array is empty")
	case n > tasks.MaxEmbedInputs:
		err = badRequest("input: %d inputs; at most %d per request", n, tasks.MaxEmbedInputs)
	}
	for i, in := range inputs {
		if err != nil {
			break
		}
		if in == "" {
			err = badRequest("input[%d]: empty string", i)
		} else if len(in) > s.cfg.MaxPromptBytes {
			err = fieldTooLong("input["+strconv.Itoa(i)+"]", len(in), s.cfg.MaxPromptBytes)
		}
	}
	for i, ids := range tokens {
		if err != nil {
			break
		}
		if len(ids) == 0 {
			err = badRequest("input[%d]: empty token array", i)
		} else if len(ids) > tasks.MaxEmbedTokens {
			err = badRequest("input[%d]: %d token ids is over the limit of %d", i, len(ids), tasks.MaxEmbedTokens)
		}
	}
	if err == nil {
		switch req.EncodingFormat {
		case "", "float", "base64":
		default:
			err = badRequest("encoding_format: %q is not float or base64", req.EncodingFormat)
		}
	}
	if err == nil {
		err = checkIntRange("dimensions", req.Dimensions, 1, 1<<16)
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	m, err := s.models.resolve(c.Request.Context(), tasks.TextEmbed, req.Model)
	if err != nil {
		_ = c.Error(err)
		return
	}
	p := tasks.TextEmbedParams{Input: inputs, Tokens: tokens}
	if req.Dimensions != nil {
		p.Dimensions = *req.Dimensions
	}
	job := queue.Job{Task: tasks.TextEmbed, Model: m.ID}
	job.Params, _ = json.Marshal(p)
	s.runSync(c, job, func(st *queue.JobState) {
		var out tasks.TextEmbedResult
		if err := json.Unmarshal(st.Result.Output, &out); err != nil || len(out.Embeddings) != p.Count() {
			_ = c.Error(&queue.JobError{Code: sdk.CodeInternal, Message: "embedding job returned a malformed result"})
			return
		}
		data := make([]gin.H, len(out.Embeddings))
		for i, v := range out.Embeddings {
			var emb any = v
			if req.EncodingFormat == "base64" {
				emb = float32Base64(v)
			}
			data[i] = gin.H{"object": "embedding", "index": i, "embedding": emb}
		}
		c.JSON(http.StatusOK, gin.H{"object": "list", "data": data, "model": st.Job.Model,
			"usage": gin.H{"prompt_tokens": out.Usage.PromptTokens, "total_tokens": out.Usage.TotalTokens}})
	})
}

// float32Base64 is OpenAI's base64 encoding of an embedding: the float32
// values little-endian, base64 (standard alphabet).
func float32Base64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}
