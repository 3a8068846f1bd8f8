package tokenizer

import (
	"reflect"
	"testing"
)

const wordLevelJSON = `{"added_tokens":[{"id":0,"content":"<pad>","special":true},{"id":1,"content":"<s>","special":true},
{"id":2,"content":"</s>","special":true},{"id":3,"content":"<unk>","special":true}],
"model":{"type":"WordLevel","vocab":{"<pad>":0,"<s>":1,"</s>":2,"<unk>":3,"a":4,"red":5,"circle":6},"unk_token":"<unk>"}}`

func TestWordLevel(t *testing.T) {
	w, err := ParseWordLevel([]byte(wordLevelJSON), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Encode("a  red\tsquare circle", true); !reflect.DeepEqual(got, []int{1, 4, 5, 3, 6}) {
		t.Fatalf("encode: %v", got)
	}
	if got := w.DecodeAll([]int{1, 4, 5, 6, 2}); got != "a red circle" {
		t.Fatalf("decode: %q", got)
	}
	var _ Tokenizer = w
}

func TestWordLevelRejects(t *testing.T) {
	for _, bad := range []string{`{`, `{"model":{"type":"BPE"}}`, `{"model":{"type":"WordLevel","vocab":{}}}`,
		`{"model":{"type":"WordLevel","vocab":{"a":0,"b":0}}}`, `{"model":{"type":"WordLevel","vocab":{"a":5}}}`} {
		if _, err := ParseWordLevel([]byte(bad), -1, -1); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzWordLevel(f *testing.F) {
	f.Add([]byte(wordLevelJSON), "a red circle")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		w, err := ParseWordLevel(data, -1, -1)
		if err != nil {
			return
		}
		for _, id := range w.Encode(text, false) {
			if id < 0 || id >= w.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}
