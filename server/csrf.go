package server

import (
	"net/http"
)

// Cross-site writes. A page of any origin may make a browser send a "simple" request
// (POST with a text body, no preflight) to a server on the developer's loopback; without
// keys nothing else stops it. A state change is therefore refused when the browser says
// it comes from another site (Sec-Fetch-Site, or an Origin whose host is not the request's
// Host), and a publish must name its JSON or NDJSON Content-Type, which a simple request
// cannot. Clients that are not browsers send neither header and are not affected.

// crossOrigin is net/http's check of Sec-Fetch-Site and Origin against Host.
var crossOrigin = http.NewCrossOriginProtection()

// stateChange wraps a handler that changes a task (publish, restart, delete): a request a
// browser sent from another origin gets 403 before anything is read or looked up.
func stateChange(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := crossOrigin.Check(r); err != nil {
			writeErrorCode(w, http.StatusForbidden, codeForbidden,
				"a page of another origin may not publish to, restart or delete tasks of this server")
			return
		}
		h(w, r)
	}
}

// nosniff is X-Content-Type-Options' one value, shared so that setting it allocates nothing.
var nosniff = []string{"nosniff"}
