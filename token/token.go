// Package token mints and verifies tasktail's subscribe tokens: HS256 JSON Web Tokens whose
// claims are sub, the task_id they open (or a prefix pattern such as "import-*", or "*"),
// and exp, when they stop working. It has no dependencies, so a Go backend can mint
// tokens without linking the server.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrMalformed is a token that is not a JWT this package understands.
	ErrMalformed = errors.New("token malformed")
	// ErrSignature is a token not signed with the secret (or with another algorithm).
	ErrSignature = errors.New("token signature invalid")
	// ErrExpired is a token past its exp.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid is a token before its nbf.
	ErrNotYetValid = errors.New("token not valid yet")
)

// MinSecretBytes is the shortest secret accepted: HS256 wants at least 256 bits.
const MinSecretBytes = 32

// maxTokenBytes bounds what Verify reads: tasktail's tokens are ~200 bytes.
const maxTokenBytes = 4096

// Claims are what a token grants.
type Claims struct {
	Sub string    // task_id, "prefix-*" or "*"
	Exp time.Time // the token works until then
}

// Allows reports whether the claims open taskID.
func (c Claims) Allows(taskID string) bool {
	if prefix, ok := strings.CutSuffix(c.Sub, "*"); ok {
		return strings.HasPrefix(taskID, prefix)
	}
	return c.Sub == taskID
}

type wireClaims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat,omitempty"`
	Nbf int64  `json:"nbf,omitempty"`
}

var (
	b64        = base64.RawURLEncoding.Strict()
	header     = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	errNoEmpty = errors.New("token: sub must not be empty")
)

// Mint returns a token for sub that works for ttl from now.
func Mint(secret []byte, sub string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("token: secret of %d bytes, want at least %d", len(secret), MinSecretBytes)
	}
	if sub == "" {
		return "", errNoEmpty
	}
	payload, err := json.Marshal(wireClaims{Sub: sub, Exp: now.Add(ttl).Unix(), Iat: now.Unix()})
	if err != nil {
		return "", err
	}
	unsigned := header + "." + b64.EncodeToString(payload)
	return unsigned + "." + sign(secret, unsigned), nil
}

// Verify checks tok's signature against secret, and its exp and nbf (when it has one)
// against now, and returns its claims. Only HS256 is accepted, whatever the token's header says.
func Verify(secret []byte, tok string, now time.Time) (Claims, error) {
	if len(tok) > maxTokenBytes || strings.IndexFunc(tok, notTokenChar) >= 0 {
		// base64 decoding skips newlines: another spelling of a token must not verify.
		return Claims{}, ErrMalformed
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if raw, err := b64.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &h) != nil {
		return Claims{}, ErrMalformed
	}
	if h.Alg != "HS256" {
		return Claims{}, ErrSignature
	}
	got, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	want, _ := b64.DecodeString(sign(secret, parts[0]+"."+parts[1]))
	if !hmac.Equal(got, want) {
		return Claims{}, ErrSignature
	}
	var c wireClaims
	raw, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Sub == "" || c.Exp == 0 {
		return Claims{}, ErrMalformed
	}
	exp := time.Unix(c.Exp, 0)
	if !now.Before(exp) {
		return Claims{}, ErrExpired
	}
	if c.Nbf != 0 && now.Before(time.Unix(c.Nbf, 0)) {
		return Claims{}, ErrNotYetValid
	}
	return Claims{Sub: c.Sub, Exp: exp}, nil
}

// notTokenChar reports a character outside base64url's alphabet and the dots.
func notTokenChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}

func sign(secret []byte, unsigned string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return b64.EncodeToString(mac.Sum(nil))
}
