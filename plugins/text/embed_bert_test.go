package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
)

// testdata/embed holds two tiny random BERT encoders with a small English
// WordPiece vocabulary and what llama.cpp makes of texts.txt with them
// (tools/ggmlref/make-embed-fixtures.sh): llama-tokenize's ids and
// llama-embedding's normalised embeddings. bert-mean-f32 pools by mean,
// bert-cls-q8_0 by [CLS] from q8_0 weights.
const embedDir = "testdata/embed"

// embedTol bounds max |Loom − llama.cpp| over a unit vector's components:
// the same sums in another order (measured ≤ 9e-8 for both files, 48
// tokens included; llama-embedding prints 7 decimals). It is llama.cpp's
// without flash attention (-fa off): its default flash attention rounds K
// and V to f16, which moves these vectors by ~3e-5.
var embedTol = map[string]float64{"bert-mean-f32": 1e-5, "bert-cls-q8_0": 1e-5}

// llamaEmbeddings reads a fixture: llama.cpp's ids of each text and its
// embedding of each.
func llamaEmbeddings(t *testing.T, name string) (texts []string, ids [][]int, embs [][]float32) {
	t.Helper()
	b, err := os.ReadFile(embedDir + "/texts.txt")
	if err != nil {
		t.Fatal(err)
	}
	texts = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	b, err = os.ReadFile(embedDir + "/" + name + ".ids")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var row []int
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("%s.ids: %q: %v", name, line, err)
		}
		ids = append(ids, row)
	}
	b, err = os.ReadFile(embedDir + "/" + name + ".embd.json")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s.embd.json: %v", name, err)
	}
	for i, d := range out.Data {
		if d.Index != i {
			t.Fatalf("%s.embd.json: data[%d] has index %d", name, i, d.Index)
		}
		embs = append(embs, d.Embedding)
	}
	if len(ids) != len(texts) || len(embs) != len(texts) {
		t.Fatalf("%s: %d texts, %d id lines, %d embeddings", name, len(texts), len(ids), len(embs))
	}
	return texts, ids, embs
}

// A BERT GGUF serves text.embed only, and its embeddings are llama.cpp's:
// the same ids for every text ([CLS] … [SEP]), the same normalised vector
// within embedTol, prompt_tokens their count; token-id input gives the
// same vectors as the text.
func TestBERTEmbeddingsMatchLlamaCpp(t *testing.T) {
	e := newEngine([]string{embedDir}, "")
	man, err := e.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	served := map[string][]string{}
	for _, m := range man.Models {
		served[m.ID] = m.Tasks
	}
	for name := range embedTol {
		t.Run(name, func(t *testing.T) {
			if !slices.Equal(served[name], []string{taskEmbed}) {
				t.Fatalf("Describe lists %s with tasks %v, want only %s", name, served[name], taskEmbed)
			}
			texts, ids, want := llamaEmbeddings(t, name)
			in, _ := json.Marshal(map[string]any{"input": texts})
			res, progress, err := runEmbedModel(t, e, name, string(in))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Embeddings) != len(texts) || progress != len(texts) || res.Dimensions != 32 {
				t.Fatalf("%d vectors, %d progress events, %d dimensions", len(res.Embeddings), progress, res.Dimensions)
			}
			lm, err := e.model(name)
			if err != nil {
				t.Fatal(err)
			}
			defer e.done(lm)
			tokens := 0
			for i, text := range texts {
				if got := lm.tok.Encode(text, true); !slices.Equal(got, ids[i]) {
					t.Errorf("text %d: ids %v, llama-tokenize %v", i, got, ids[i])
				}
				tokens += len(ids[i])
				var worst float64
				for j, v := range res.Embeddings[i] {
					worst = math.Max(worst, math.Abs(float64(v)-float64(want[i][j])))
				}
				if worst > embedTol[name] {
					t.Errorf("text %d (%d tokens): max |Δ| %.3g from llama.cpp's, over %g", i, len(ids[i]), worst, embedTol[name])
				} else {
					t.Logf("text %d (%d tokens): max |Δ| %.2g from llama.cpp's", i, len(ids[i]), worst)
				}
			}
			if res.Usage.PromptTokens != tokens || res.Usage.TotalTokens != tokens {
				t.Errorf("usage %+v, want %d tokens", res.Usage, tokens)
			}
			in, _ = json.Marshal(map[string]any{"tokens": ids})
			byIDs, _, err := runEmbedModel(t, e, name, string(in))
			if err != nil {
				t.Fatal(err)
			}
			for i := range texts {
				if !slices.Equal(byIDs.Embeddings[i], res.Embeddings[i]) {
					t.Errorf("text %d: its ids embed differently from its text", i)
				}
			}
		})
	}
}

// An encoder refuses generation, and embedding input it cannot take.
func TestBERTRefusesBadInput(t *testing.T) {
	e := newEngine([]string{embedDir}, "")
	err := e.Run(t.Context(), sdk.Job{Task: taskComplete, Model: "bert-mean-f32", Params: json.RawMessage(`{"prompt":"a"}`)},
		func(sdk.Event) error { return nil })
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest || !strings.Contains(se.Message, "sentence encoder") {
		t.Errorf("text.complete on an encoder: %v", err)
	}
	long := strings.Repeat("the cat ", 40) // 80 words + [CLS] [SEP]: over the context of 64
	for name, params := range map[string]string{
		"over context":      `{"input":["a","` + long + `"]}`,
		"ids over context":  `{"tokens":[[` + strings.Repeat("7,", 64) + `7]]}`,
		"id over vocab":     `{"tokens":[[2,999999,3]]}`,
		"negative id":       `{"tokens":[[2,-1,3]]}`,
		"wrong dimensions":  `{"input":["a"],"dimensions":16}`,
		"too many":          `{"input":[` + strings.Repeat(`"a",`, 2048) + `"a"]}`,
		"empty input array": `{"input":[]}`,
	} {
		_, _, err := runEmbedModel(t, e, "bert-mean-f32", params)
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest {
			t.Errorf("%s: %v, want invalid_request", name, err)
		} else {
			t.Logf("%s: %s", name, se.Message)
		}
	}
	if _, _, err := runEmbedModel(t, e, "bert-mean-f32", `{"input":["a"],"dimensions":32}`); err != nil {
		t.Errorf("dimensions 32: %v", err)
	}
}
