package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// How a model id maps to files, in LOOM_MODELS order, first match wins:
//
//	DIR/ID/            a folder: HF safetensors (config.json), else its first
//	                   *.gguf, else a llama2.c *.bin with tok*.bin beside it
//	DIR/ID.gguf        a GGUF file
//	DIR/ID.bin         a llama2.c checkpoint (tokenizer tok<vocab>.bin beside it)
//	DIR/ID             when ID itself ends in .gguf or .bin: exactly that file
//
// So "stories260K" is ../shared/models/stories260K (the folder, which opens
// its .gguf), and "stories260K.bin" inside that folder's own directory names
// the llama2.c file exactly.

// textArchs are the HF model_type / GGUF architectures the decoder runs.
var textArchs = map[string]bool{"llama": true, "mistral": true, "mixtral": true, "qwen2": true}

// validID rejects names that could leave a models directory.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`) && !strings.HasPrefix(id, ".")
}

// resolve finds the model path for id, or "" when no directory has it.
func resolve(dirs []string, id string) string {
	if !validID(id) {
		return ""
	}
	for _, d := range dirs {
		cands := []string{filepath.Join(d, id), filepath.Join(d, id+".gguf"), filepath.Join(d, id+".bin")}
		for _, p := range cands {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			if st.IsDir() && isModelFolder(p) {
				return p
			}
			// A file named exactly (extension included) needs no tokenizer
			// beside it: one may come from LOOM_TEXT_TOKENIZER.
			exact := filepath.Base(p) == id && (filepath.Ext(id) == ".gguf" || filepath.Ext(id) == ".bin")
			if st.Mode().IsRegular() && (isModelFile(p) || exact) {
				return p
			}
		}
	}
	return ""
}

// isModelFile reports whether p is a GGUF file or a llama2.c checkpoint that
// has a tokenizer beside it (llama2.c files carry none).
func isModelFile(p string) bool {
	base := filepath.Base(p)
	switch filepath.Ext(p) {
	case ".gguf":
		return true
	case ".bin":
		if strings.HasPrefix(base, "tok") {
			return false
		}
		toks, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "tok*.bin"))
		return len(toks) > 0
	}
	return false
}

// isModelFolder reports whether a folder holds a text model.
func isModelFolder(dir string) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		var cfg struct {
			ModelType string `json:"model_type"`
		}
		return json.Unmarshal(b, &cfg) == nil && textArchs[cfg.ModelType]
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && isModelFile(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

// catalog lists the model ids found in dirs, sorted, each once (the first
// directory that has an id wins, as in resolve).
func catalog(dirs []string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			id := ""
			switch {
			case e.IsDir() && validID(e.Name()) && isModelFolder(p):
				id = e.Name()
			case !e.IsDir() && isModelFile(p):
				id = strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			}
			if id != "" && validID(id) && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids
}
