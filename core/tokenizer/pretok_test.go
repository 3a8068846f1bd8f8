package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// testdata/pretok_golden.json holds the splits Python's regex module gives
// for the real GPT-2 / Llama-3 / Qwen2 patterns (gen_pretok_golden.py).
func TestPretokenizersMatchRegexGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/pretok_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []map[string]any
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 600 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	splits := map[string]preTokenizer{"gpt2": preTokenizers()["gpt-2"], "llama3": preTokenizers()["llama-bpe"], "qwen2": preTokenizers()["qwen2"]}
	fails := 0
	for _, c := range cases {
		text := c["text"].(string)
		for name, split := range splits {
			var want []string
			for _, w := range c[name].([]any) {
				want = append(want, w.(string))
			}
			got := split.split(text)
			if !reflect.DeepEqual(got, want) {
				if fails++; fails <= 10 {
					t.Errorf("%s %q:\n got %q\nwant %q", name, text, got, want)
				}
			}
			if strings.Join(got, "") != text {
				t.Errorf("%s %q: pieces do not cover the text", name, text)
			}
		}
	}
}

func FuzzPretokenizers(f *testing.F) {
	f.Add("I'm here,  aren't\n\n you 123456 日本")
	f.Fuzz(func(t *testing.T, s string) {
		_, norm, _ := codepoints(s)
		for _, name := range PreTokenizers() {
			parts := preTokenizers()[name].split(s)
			for _, p := range parts {
				if p == "" {
					t.Fatalf("%s: empty piece in %q", name, parts)
				}
			}
			if strings.Join(parts, "") != norm {
				t.Fatalf("%s: %q split to %q", name, s, parts)
			}
		}
	})
}
