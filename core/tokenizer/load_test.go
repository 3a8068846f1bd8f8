package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// Load dispatches on the file: WordLevel and BPE tokenizer.json, a folder
// holding one, or a llama2.c .bin.
func TestLoadDispatch(t *testing.T) {
	dir := t.TempDir()
	wl := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(wl, []byte(wordLevelJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(dir, formats.Metadata{"tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tk.(*WordLevel); !ok || tk.BOS() != 1 || tk.EOS() != 2 {
		t.Fatalf("%T bos %d eos %d", tk, tk.BOS(), tk.EOS())
	}
	if got := tk.Encode("a red circle", true); !reflect.DeepEqual(got, []int{1, 4, 5, 6}) {
		t.Fatalf("%v", got)
	}
	tk, err = Load("testdata/tiny_tokenizer.json", nil)
	if _, ok := tk.(*ByteBPE); err != nil || !ok {
		t.Fatalf("%T %v", tk, err)
	}
	if _, err := Load(filepath.Join(dir, "absent.json"), nil); err == nil {
		t.Error("absent file loaded")
	}
}
