package gateway

import (
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/gateway/web"
)

// registerPlayground serves the browser playground (package web): the page
// at / and its files under /ui/. They are public; the page asks for an API
// key when the API answers 401 and sends it like any client.
func (s *Server) registerPlayground(r *gin.Engine) {
	files := web.Files()
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err) // embedded at build time
	}
	page := func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; style-src 'self'; script-src 'self'")
		c.Data(http.StatusOK, "text/html; charset=utf-8", index)
	}
	r.GET("/", page)
	r.HEAD("/", page)
	static := http.StripPrefix("/ui/", http.FileServer(http.FS(files)))
	r.GET("/ui/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		static.ServeHTTP(c.Writer, c.Request)
	})
}
