package sdk

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Folders finds one kind of model folder in the model directories (id =
// folder name; the first directory naming an id wins, as LOOM_MODELS is
// searched in order) and loads each once, on first use. Engines that serve
// models from folders embed one per task.
type Folders[M any] struct {
	Task   string                      // for messages, e.g. "audio.speech"
	Dirs   []string                    // the model directories
	Accept func(dir string) bool       // is dir a model folder of this kind?
	Load   func(dir string) (M, error) // open a folder; errors become model_unavailable

	mu     sync.Mutex
	loaded map[string]M
}

// Found maps model id → folder for every accepted folder now present.
func (f *Folders[M]) Found() map[string]string {
	out := map[string]string{}
	for _, d := range f.Dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, ent := range ents {
			p := filepath.Join(d, ent.Name())
			if _, dup := out[ent.Name()]; !dup && f.Accept(p) {
				out[ent.Name()] = p
			}
		}
	}
	return out
}

// IDs lists the found model ids in order.
func (f *Folders[M]) IDs() []string {
	ms := f.Found()
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Get returns the loaded model id: invalid_request for a name that is not a
// folder name, model_not_found when no directory has it, model_unavailable
// when it does not load.
func (f *Folders[M]) Get(id string) (M, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var zero M
	if m, ok := f.loaded[id]; ok {
		return m, nil
	}
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) {
		return zero, Errorf(CodeInvalidRequest, "model name %q is not a folder name", id)
	}
	dir, ok := f.Found()[id]
	if !ok {
		return zero, Errorf(CodeModelNotFound, "no %s model %q in %v", f.Task, id, f.Dirs)
	}
	m, err := f.Load(dir)
	if err != nil {
		return zero, Errorf(CodeModelUnavailable, "load %s: %v", dir, err)
	}
	if f.loaded == nil {
		f.loaded = map[string]M{}
	}
	f.loaded[id] = m
	return m, nil
}

// ModelCreated is a model's "created" time: the newest modification time of
// path and, for a folder, of its direct entries (Unix seconds; 0 when it
// cannot be read), so replacing a model's weights moves it.
func ModelCreated(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	newest := st.ModTime()
	if st.IsDir() {
		ents, _ := os.ReadDir(path)
		for _, e := range ents {
			if info, err := e.Info(); err == nil && info.ModTime().After(newest) {
				newest = info.ModTime()
			}
		}
	}
	return newest.Unix()
}

// Loaded reports whether model id is loaded now.
func (f *Folders[M]) Loaded(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.loaded[id]
	return ok
}

// Unload forgets a loaded model (closing it when it is an io.Closer), so
// its memory goes back once running jobs drop it; the next Get loads it
// again. Unloading a model that is not loaded does nothing.
func (f *Folders[M]) Unload(id string) error {
	f.mu.Lock()
	m, ok := f.loaded[id]
	delete(f.loaded, id)
	f.mu.Unlock()
	if c, isCloser := any(m).(io.Closer); ok && isCloser {
		return c.Close()
	}
	return nil
}

// DirBytes is the total size of the regular files under dir (symlinks
// followed at the top only): the estimate of a model's memory that
// ModelInfo.MemoryBytes reports for weights that are read whole.
func DirBytes(dir string) int64 {
	var n int64
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// ReadJSON decodes a JSON file, naming the file in its errors.
func ReadJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
