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

	mu    sync.Mutex
	loads map[string]*folderLoad[M] // by id: done, or under way
}

// folderLoad is one model's load: waiters block on done, not on the
// Folders' lock, so a slow load holds up only the jobs of its own model.
type folderLoad[M any] struct {
	done chan struct{}
	m    M
	err  error
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
// when it does not load. Concurrent first calls for one id share one load;
// calls for other ids do not wait for it. A failed load is not kept, so a
// later call tries again (the folder may have been fixed).
func (f *Folders[M]) Get(id string) (M, error) {
	var zero M
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) {
		return zero, Errorf(CodeInvalidRequest, "model name %q is not a folder name", id)
	}
	f.mu.Lock()
	if l, ok := f.loads[id]; ok {
		f.mu.Unlock()
		<-l.done
		return l.m, l.err
	}
	l := &folderLoad[M]{done: make(chan struct{})}
	if f.loads == nil {
		f.loads = map[string]*folderLoad[M]{}
	}
	f.loads[id] = l
	f.mu.Unlock()

	if dir, ok := f.Found()[id]; !ok {
		l.err = Errorf(CodeModelNotFound, "no %s model %q in %v", f.Task, id, f.Dirs)
	} else if m, err := f.Load(dir); err != nil {
		l.err = Errorf(CodeModelUnavailable, "load %s: %v", dir, err)
	} else {
		l.m = m
	}
	if l.err != nil {
		f.mu.Lock()
		delete(f.loads, id)
		f.mu.Unlock()
	}
	close(l.done)
	return l.m, l.err
}

// Loaded reports whether model id is loaded now (a load under way is not).
func (f *Folders[M]) Loaded(id string) bool {
	f.mu.Lock()
	l, ok := f.loads[id]
	f.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case <-l.done:
		return l.err == nil
	default:
		return false
	}
}

// Unload forgets a loaded model (closing it when it is an io.Closer), so
// its memory goes back once running jobs drop it; the next Get loads it
// again. Unloading a model that is not loaded does nothing.
func (f *Folders[M]) Unload(id string) error {
	f.mu.Lock()
	l, ok := f.loads[id]
	delete(f.loads, id)
	f.mu.Unlock()
	if !ok {
		return nil
	}
	<-l.done // a load under way finishes before it is closed
	if c, isCloser := any(l.m).(io.Closer); l.err == nil && isCloser {
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
