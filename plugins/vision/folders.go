package main

import (
	"os"
	"path/filepath"
	"sort"
)

// modelFolders maps model id (folder name) → folder for every folder under
// dirs that accept takes; the first directory naming an id wins, as
// LOOM_MODELS is searched in order.
func modelFolders(dirs []string, accept func(dir string) bool) map[string]string {
	out := map[string]string{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, ent := range ents {
			p := filepath.Join(d, ent.Name())
			if _, dup := out[ent.Name()]; !dup && accept(p) {
				out[ent.Name()] = p
			}
		}
	}
	return out
}

// sortedIDs lists a model map's ids in order.
func sortedIDs(ms map[string]string) []string {
	ids := make([]string, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
