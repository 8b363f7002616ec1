package server

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// web holds the viewer page and tasktail.js, served from the binary: no CDN, no build step.
//
//go:embed web
var web embed.FS

// viewerPolicy lets the page load only its own scripts and styles and talk only to its
// own origin ('self' covers ws: and wss: of the same host).
const viewerPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) viewer(w http.ResponseWriter, r *http.Request, _ *request) {
	s.page(w, r, "web/viewer.html")
}

// index is the page at /: the task list, each task linking to its viewer.
func (s *Server) index(w http.ResponseWriter, r *http.Request, _ *request) {
	s.page(w, r, "web/index.html")
}

// page serves one of the embedded pages.
func (s *Server) page(w http.ResponseWriter, r *http.Request, name string) {
	page, err := web.ReadFile(name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", viewerPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(page) // a failed write means the browser left
}

// staticFiles serves tasktail.js, the page's script and its stylesheet.
func staticFiles() http.Handler {
	files, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fileServer := http.FileServerFS(files)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			writeErrorCode(w, http.StatusNotFound, codeNotFound, "no such file")
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == "tasktail.js" {
			// Pages of other origins import it as a module, which needs CORS; it is public.
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		fileServer.ServeHTTP(w, r)
	}))
}
