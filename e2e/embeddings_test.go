package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestEmbeddingsBERT serves the tiny BERT encoders of plugins/text/testdata/embed
// through loom serve (gateway → queue → worker → text plugin) and calls
// /v1/embeddings as the SDKs do: openai-go with float and base64, the body
// the openai npm package sends (encoding_format base64, which it decodes
// itself), token-id input. Every vector must be llama-embedding's for the
// same file (within 1e-5: see plugins/text/embed_bert_test.go), usage its
// token count, and bad input a 4xx OpenAI error.
func TestEmbeddingsBERT(t *testing.T) {
	embedDir, err := filepath.Abs("../plugins/text/testdata/embed")
	if err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir() // the text plugin alone: nothing else to start
	// A hard link: the plugin host starts regular files only.
	if err := os.Link(filepath.Join(binDir, "loom-plugin-text"), filepath.Join(plugins, "loom-plugin-text")); err != nil {
		t.Fatal(err)
	}
	ai, base := sdkServerOn(t, plugins, embedDir)
	ctx := context.Background()
	texts := strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(embedDir, "texts.txt")), "\n"), "\n")

	for name, tol := range map[string]float64{"bert-mean-f32": 1e-5, "bert-cls-q8_0": 1e-5} {
		t.Run(name, func(t *testing.T) {
			var ids [][]int64
			tokens := 0
			for _, line := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(embedDir, name+".ids"))), "\n") {
				var row []int64
				if err := json.Unmarshal([]byte(line), &row); err != nil {
					t.Fatal(err)
				}
				ids, tokens = append(ids, row), tokens+len(row)
			}
			var want struct {
				Data []struct {
					Embedding []float64 `json:"embedding"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(embedDir, name+".embd.json"))), &want); err != nil {
				t.Fatal(err)
			}
			res, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: name,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Object != "list" || res.Model != name || len(res.Data) != len(texts) ||
				res.Usage.PromptTokens != int64(tokens) || res.Usage.TotalTokens != int64(tokens) {
				t.Fatalf("%s", tail(res.RawJSON(), 400))
			}
			for i, d := range res.Data {
				worst := 0.0
				for j, v := range d.Embedding {
					worst = math.Max(worst, math.Abs(v-want.Data[i].Embedding[j]))
				}
				if d.Index != int64(i) || len(d.Embedding) != 32 || worst > tol {
					t.Errorf("data[%d]: index %d, %d floats, max |Δ| %.3g from llama-embedding's", i, d.Index, len(d.Embedding), worst)
				}
			}
			// openai-go asking for base64 decodes to the same floats.
			b64, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: name, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range texts {
				if !sameFloats(b64.Data[i].Embedding, res.Data[i].Embedding) {
					t.Errorf("base64 data[%d] differs from float", i)
				}
			}
			// The npm package's body: encoding_format base64 unless the
			// caller names one; it decodes the little-endian float32 itself.
			raw := postJSON(t, base+"/v1/embeddings", map[string]any{"model": name, "input": texts[1], "encoding_format": "base64"})
			var npm struct {
				Data []struct {
					Embedding string `json:"embedding"`
				} `json:"data"`
			}
			if err := json.Unmarshal(raw, &npm); err != nil || len(npm.Data) != 1 {
				t.Fatalf("npm-style request: %v %s", err, tail(string(raw), 300))
			}
			buf, err := base64.StdEncoding.DecodeString(npm.Data[0].Embedding)
			if err != nil || len(buf) != 4*32 {
				t.Fatalf("npm-style base64: %v, %d bytes", err, len(buf))
			}
			got := make([]float64, 32)
			for j := range got {
				got[j] = float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:])))
			}
			if !sameFloats(got, res.Data[1].Embedding) {
				t.Error("npm-style base64 vector differs from the float one")
			}
			// Token ids (llama-tokenize's, [CLS] … [SEP] included) embed as their text.
			byIDs, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: name,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: ids}})
			if err != nil {
				t.Fatal(err)
			}
			one, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: name,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: ids[2]}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range texts {
				if !sameFloats(byIDs.Data[i].Embedding, res.Data[i].Embedding) {
					t.Errorf("token ids of text %d embed differently", i)
				}
			}
			if !sameFloats(one.Data[0].Embedding, res.Data[2].Embedding) || one.Usage.PromptTokens != int64(len(ids[2])) {
				t.Errorf("one token array: usage %d", one.Usage.PromptTokens)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		in := func(u openai.EmbeddingNewParamsInputUnion) error {
			_, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "bert-mean-f32", Input: u})
			return err
		}
		apiError(t, "empty array", in(openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{}}), 400, "invalid_request")
		apiError(t, "empty string", in(openai.EmbeddingNewParamsInputUnion{OfString: openai.String("")}), 400, "invalid_request")
		apiError(t, "2049 inputs", in(openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: make([]string, 2049)}), 400, "invalid_request")
		apiError(t, "over the context of 64", in(openai.EmbeddingNewParamsInputUnion{OfString: openai.String(strings.Repeat("the cat ", 40))}), 400, "invalid_request")
		apiError(t, "id outside the vocabulary", in(openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{2, 100000, 3}}), 400, "invalid_request")
		// The gateway's bound, not the plugin's context check (64 here), must answer.
		err8193 := in(openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: make([]int64, 8193)})
		apiError(t, "8193 token ids", err8193, 400, "invalid_request")
		if ae := (*openai.Error)(nil); errors.As(err8193, &ae) && !strings.Contains(ae.Message, "limit of 8192") {
			t.Errorf("8193 token ids: message %q does not name the 8192 limit", ae.Message)
		}
		_, err := ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "bert-mean-f32", Dimensions: openai.Int(16),
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a cat")}})
		apiError(t, "dimensions", err, 400, "invalid_request")
		// An encoder does not chat: the manifest lists text.embed only.
		_, err = ai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "bert-mean-f32",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		apiError(t, "chat with an encoder", err, 404, "model_not_found")
		_, err = ai.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "no-such-model",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")}})
		apiError(t, "unknown model", err, 404, "model_not_found")
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if float32(a[i]) != float32(b[i]) {
			return false
		}
	}
	return true
}

// postJSON posts body with the suite's API key and returns the 200 answer.
func postJSON(t *testing.T, url string, body any) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+sdkKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, tail(out.String(), 300))
	}
	return out.Bytes()
}
