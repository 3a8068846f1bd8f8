package sdk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ModelsEnv is the environment variable through which the host tells a
// plugin where models live: a list of directories joined by the OS path
// list separator (":" on Unix), searched in order.
const ModelsEnv = "LOOM_MODELS"

// ModelDirs returns the model directories from LOOM_MODELS, empty entries
// dropped.
func ModelDirs() []string { return SplitModelDirs(os.Getenv(ModelsEnv)) }

// SplitModelDirs splits a LOOM_MODELS value.
func SplitModelDirs(v string) []string {
	var dirs []string
	for _, d := range filepath.SplitList(v) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// JoinModelDirs builds a LOOM_MODELS value.
func JoinModelDirs(dirs []string) string {
	return strings.Join(dirs, string(os.PathListSeparator))
}

// TaskNeed says what one task needs installed: a model folder under one of
// the LOOM_MODELS directories holding Files.
type TaskNeed struct {
	Task  string   // e.g. "image.caption"
	Files []string // e.g. model.safetensors, config.json
}

// missing says what is absent. It names no directory: the text reaches API
// clients (the operator knows LOOM_MODELS; the host logs it).
func (n TaskNeed) missing(dirs []string) string {
	if len(dirs) == 0 {
		return fmt.Sprintf("no %s model installed: LOOM_MODELS is empty", n.Task)
	}
	return fmt.Sprintf("no %s model installed: expected a folder with %s in a LOOM_MODELS directory",
		n.Task, strings.Join(n.Files, " + "))
}

// Unready returns the Engine of a plugin whose tasks have no runtime in this
// build yet. It describes each task with one model entry, ID equal to the
// task name, that is not ready and says what is missing; every Run fails
// with CodeModelUnavailable and that text. It never produces output. A real
// engine replaces it task by task.
func Unready(name, version string, needs ...TaskNeed) Engine {
	return &unready{name: name, version: version, needs: needs}
}

type unready struct {
	name    string
	version string
	needs   []TaskNeed
}

func (u *unready) Describe(context.Context) (Manifest, error) {
	dirs := ModelDirs()
	m := Manifest{Name: u.name, Version: u.version, Tasks: []string{}, Models: []ModelInfo{}}
	for _, n := range u.needs {
		m.Tasks = append(m.Tasks, n.Task)
		m.Models = append(m.Models, ModelInfo{
			ID:      n.Task,
			Tasks:   []string{n.Task},
			Ready:   false,
			Missing: n.missing(dirs),
		})
	}
	return m, nil
}

func (u *unready) Run(_ context.Context, job Job, _ func(Event) error) error {
	i := slices.IndexFunc(u.needs, func(n TaskNeed) bool { return n.Task == job.Task })
	if i < 0 {
		tasks := make([]string, len(u.needs))
		for k, n := range u.needs {
			tasks[k] = n.Task
		}
		return Errorf(CodeInvalidRequest, "plugin %s serves %s, not %q", u.name, strings.Join(tasks, ", "), job.Task)
	}
	need, dirs := u.needs[i], ModelDirs()
	if job.Model == "" || job.Model == need.Task {
		return &Error{Code: CodeModelUnavailable, Message: need.missing(dirs)}
	}
	if job.Model == "." || job.Model == ".." || strings.ContainsAny(job.Model, `/\`) {
		return Errorf(CodeInvalidRequest, "model name %q is not a folder name", job.Model)
	}
	// A named model: say whether its folder is there at all, so the user
	// knows whether to install it or to wait for a runtime.
	for _, d := range dirs {
		folder := filepath.Join(d, job.Model)
		if st, err := os.Stat(folder); err == nil && st.IsDir() {
			return Errorf(CodeModelUnavailable, "found the folder %s, but this build of loom-plugin-%s has no %s runtime to load it",
				job.Model, u.name, need.Task)
		}
	}
	if len(dirs) == 0 {
		return Errorf(CodeModelUnavailable, "model %q for %s is not installed: LOOM_MODELS is empty", job.Model, need.Task)
	}
	return Errorf(CodeModelUnavailable, "model %q for %s is not installed: expected a folder %s/ with %s in a LOOM_MODELS directory",
		job.Model, need.Task, job.Model, strings.Join(need.Files, " + "))
}
