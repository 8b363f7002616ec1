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

// crossSite answers 403 to a request that changes a task (the route table's publisher
// endpoints: publish, restart, delete) when a browser sent it from another origin, before
// anything is read or looked up, and reports whether it did.
func crossSite(w http.ResponseWriter, r *http.Request) bool {
	if err := crossOrigin.Check(r); err != nil {
		writeErrorCode(w, http.StatusForbidden, codeForbidden,
			"a page of another origin may not publish to, restart or delete tasks of this server")
		return true
	}
	return false
}

// nosniff is X-Content-Type-Options' one value, shared so that setting it allocates nothing.
var nosniff = []string{"nosniff"}
