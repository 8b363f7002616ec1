package server

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tasktail/tasktail/token"
)

// Who may do what:
//   - publish and delete: a publish key, when any is configured;
//   - status and viewing: a subscribe token whose sub opens the task, or a publish key,
//     when a token secret is configured.
// Without keys (or without a secret) that side is open, and Serve then listens only on
// loopback unless Config.Insecure says otherwise.

var (
	errUnauthenticated = errors.New("missing or invalid credentials")
	errForbidden       = errors.New("credentials do not open this task")
)

// authError carries the message a refused request gets.
type authError struct {
	err     error
	message string
}

func (e *authError) Error() string { return e.message }
func (e *authError) Unwrap() error { return e.err }

// bearer returns the Authorization header's Bearer value.
func bearer(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// isPublishKey compares cred with every key in constant time.
func (s *Server) isPublishKey(cred string) bool {
	found := 0
	for _, k := range s.cfg.PublishKeys {
		found |= subtle.ConstantTimeCompare([]byte(cred), []byte(k))
	}
	return found == 1
}

// authorizePublish checks the publish key of a request that changes a task.
func (s *Server) authorizePublish(r *http.Request) error {
	if len(s.cfg.PublishKeys) == 0 {
		return nil
	}
	cred := bearer(r)
	switch {
	case cred == "" && r.URL.Query().Has("token"):
		// Keys in URLs end up in proxies' and servers' logs.
		return s.refuse(&authError{errUnauthenticated, "a publish key goes in the Authorization header (Authorization: Bearer KEY), never in the URL"})
	case cred == "":
		return s.refuse(&authError{errUnauthenticated, "a publish key is required (Authorization: Bearer KEY)"})
	case !s.isPublishKey(cred):
		return s.refuse(&authError{errForbidden, "this key may not publish"})
	}
	trust(r)
	if ok, wait := s.limiter.allow(cred, time.Now()); !ok {
		return &rateLimitError{retryAfter: wait}
	}
	return nil
}

// rateLimitError is a publish over its key's rate.
type rateLimitError struct{ retryAfter time.Duration }

func (e *rateLimitError) Error() string { return "publish rate limit reached for this key" }

// authorizeView checks the credential of a request that reads a task. It returns when the
// credential stops working (zero: never).
func (s *Server) authorizeView(r *http.Request, taskID string) (time.Time, error) {
	claims, err := s.reader(r)
	switch {
	case err != nil:
		return time.Time{}, err
	case claims == nil:
		return time.Time{}, nil
	case !claims.Allows(taskID):
		return time.Time{}, s.refuse(&authError{errForbidden, "the token does not open this task"})
	}
	trust(r)
	return claims.Exp, nil
}

// reader checks the credential of a request that reads tasks: none is needed without a
// token secret, a publish key (in the header) opens every task, and otherwise it returns
// the valid subscribe token's claims for the caller to check against what it reads.
func (s *Server) reader(r *http.Request) (*token.Claims, error) {
	if len(s.cfg.TokenSecret) == 0 {
		return nil, nil
	}
	cred := bearer(r)
	if cred != "" && s.isPublishKey(cred) {
		trust(r)
		return nil, nil
	}
	if cred == "" {
		// Browsers cannot give a WebSocket headers: a subscribe token may come in the URL,
		// a publish key never.
		cred = r.URL.Query().Get("token")
		if s.isPublishKey(cred) {
			return nil, s.refuse(&authError{errUnauthenticated, "a publish key goes in the Authorization header, never in the URL; give viewers a subscribe token"})
		}
	}
	if cred == "" {
		return nil, s.refuse(&authError{errUnauthenticated, "a subscribe token is required (?token= or Authorization: Bearer)"})
	}
	now := time.Now()
	claims, err := token.Verify(s.cfg.TokenSecret, cred, now)
	switch {
	case errors.Is(err, token.ErrExpired):
		return nil, s.refuse(&authError{errUnauthenticated, "the token has expired"})
	case errors.Is(err, token.ErrNotYetValid):
		return nil, s.refuse(&authError{errUnauthenticated, "the token is not valid yet (its nbf is ahead)"})
	case err == nil && claims.Exp.Sub(now) > s.cfg.MaxTokenTTL:
		return nil, s.refuse(&authError{errUnauthenticated, "the token's exp is more than " + s.cfg.MaxTokenTTL.String() + " ahead, which this server's --max-token-ttl refuses; mint a shorter one"})
	case err != nil:
		return nil, s.refuse(&authError{errUnauthenticated, "the token is not valid"})
	}
	return &claims, nil
}

func (s *Server) refuse(err *authError) error {
	s.metrics.authFailures.Inc()
	return err
}

// checkHost answers 421 to a request whose Host is not the server's to answer (see
// Config.AllowedHosts), and reports whether it did.
func (s *Server) checkHost(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.authConfigured() {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), "."))
	if host == "localhost" || host == "127.0.0.1" || host == "::1" {
		return false
	}
	for _, p := range s.cfg.AllowedHosts {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return false
		}
	}
	writeErrorCode(w, http.StatusMisdirectedRequest, codeMisdirected, "this server has no --token-secret or no --publish-keys, so it answers only "+
		"loopback host names (localhost, 127.0.0.1, [::1]); to serve "+r.Host+", add it to --allowed-hosts")
	return true
}

// authConfigured reports whether both publishing and viewing need credentials.
func (c *Config) authConfigured() bool { return len(c.PublishKeys) > 0 && len(c.TokenSecret) > 0 }

// checkExposure refuses to serve without credentials anywhere but on loopback, unless
// Config.Insecure allows it.
func (c *Config) checkExposure(addr net.Addr) error {
	if c.authConfigured() || c.Insecure {
		return nil
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return nil
	}
	return errors.New("refusing to listen on " + addr.String() + " without --publish-keys and --token-secret: " +
		"anyone who reaches it could publish and read every task; configure both, or pass --insecure")
}
