package server

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
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

// bearer returns the credential of a request: the Authorization header's Bearer value,
// or, for WebSocket upgrades that browsers cannot give headers, the token query
// parameter.
func bearer(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return r.URL.Query().Get("token")
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
	case cred == "":
		return s.refuse(&authError{errUnauthenticated, "a publish key is required (Authorization: Bearer KEY)"})
	case !s.isPublishKey(cred):
		return s.refuse(&authError{errForbidden, "this key may not publish"})
	}
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
	if len(s.cfg.TokenSecret) == 0 {
		return time.Time{}, nil
	}
	cred := bearer(r)
	if cred == "" {
		return time.Time{}, s.refuse(&authError{errUnauthenticated, "a subscribe token is required (?token= or Authorization: Bearer)"})
	}
	if s.isPublishKey(cred) {
		return time.Time{}, nil
	}
	claims, err := token.Verify(s.cfg.TokenSecret, cred, time.Now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return time.Time{}, s.refuse(&authError{errUnauthenticated, "the token has expired"})
	case err != nil:
		return time.Time{}, s.refuse(&authError{errUnauthenticated, "the token is not valid"})
	case !claims.Allows(taskID):
		return time.Time{}, s.refuse(&authError{errForbidden, "the token does not open this task"})
	}
	return claims.Exp, nil
}

func (s *Server) refuse(err *authError) error {
	s.metrics.authFailures.Inc()
	return err
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
