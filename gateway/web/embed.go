// Package web is Loom's browser playground: one page (static/index.html,
// app.js, app.css; no framework, no CDN, nothing fetched at run time) that
// the gateway serves at / and /ui/. It is a client of the public HTTP API
// like any other: chat, images, captions, speech, video, the job queue and
// the installed models.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files is the playground's file tree: index.html, app.js, app.css.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}
