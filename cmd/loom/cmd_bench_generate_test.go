package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestBenchGenerateRunsEveryFamily: `loom bench generate` loads any
// language-model family the text plugin serves (here the llama.cpp-checked
// random Mamba, RWKV-6 and DeepSeek-V2 fixtures) and reports its shape.
func TestBenchGenerateRunsEveryFamily(t *testing.T) {
	for _, c := range []struct{ arch, typ, first string }{{"mamba", "q8_0", "q8_0"}, {"rwkv6", "f32", "f32"}, {"deepseek2", "q8_0", "q8_0"}} {
		var out, errb bytes.Buffer
		args := []string{"--model", "../../core/towers/testdata/" + c.arch + "/" + c.typ + ".gguf", "--prompt-tokens", "9", "--gen-tokens", "3", "--json"}
		if err := runBenchGenerate(args, &out, &errb); err != nil {
			t.Fatalf("%s: %v (%s)", c.arch, err, errb.String())
		}
		var r generateBenchResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Layers != 2 || r.Dim != 64 || r.Vocab != 256 || r.WeightType != c.first || !(r.DecodeTokS > 0) || !(r.PrefillTokS > 0) {
			t.Errorf("%s: %+v", c.arch, r)
		}
	}
}
