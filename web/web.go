// Package web is the browser chat app: static files embedded in the
// binary (no build step, no CDN, no external fonts), served on the HTTP
// port beside the WebSocket endpoint /ws they talk to.
//
// The app is plain JavaScript (static/app.js): it speaks the native
// protocol over /ws, renders everything others send as text (never as
// HTML), and keeps what it shows by message id, so a reconnection's resume
// neither loses nor repeats a message.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page's own scripts, styles and
// WebSocket only: even text that got into the page as HTML could run no
// script, load nothing from elsewhere and submit nowhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the app: index.html at "/", the other files by name,
// with a strict Content-Security-Policy. Anything else is 404.
func Handler() http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
