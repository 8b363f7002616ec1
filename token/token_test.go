package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestMintVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := Mint(secret, "import-42", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(secret, tok, now.Add(59*time.Minute))
	if err != nil || c.Sub != "import-42" || !c.Exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if _, err := Verify(secret, tok, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at exp: %v, want ErrExpired", err)
	}
	if _, err := Verify([]byte("another secret of thirty-two b!!"), tok, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("other secret: %v, want ErrSignature", err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"*","exp":9999999999}`)) + "." + parts[2]
	if _, err := Verify(secret, forged, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged claims: %v, want ErrSignature", err)
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	if _, err := Verify(secret, none, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("alg none: %v, want ErrSignature", err)
	}
	for _, bad := range []string{"", "a.b", "a.b.c.d", "!!.!!.!!", strings.Repeat("a", 5000)} {
		if _, err := Verify(secret, bad, now); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.20q: %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := Mint([]byte("short"), "x", time.Hour, now); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		sub, task string
		ok        bool
	}{
		{"import-42", "import-42", true}, {"import-42", "import-43", false}, {"import-42", "import-420", false},
		{"import-*", "import-7", true}, {"import-*", "export-7", false}, {"*", "anything", true},
	}
	for _, c := range cases {
		if got := (Claims{Sub: c.sub}).Allows(c.task); got != c.ok {
			t.Errorf("sub %q task %q: %v", c.sub, c.task, got)
		}
	}
}

// FuzzVerify: no input panics, and nothing but a token signed with the secret verifies.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good, _ := Mint(secret, "t", time.Hour, now)
	for _, s := range []string{good, "", "a.b.c", good + "x", strings.Replace(good, ".", "..", 1), "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(secret, tok, now)
		if err == nil && tok != good {
			// Another encoding of the same signed token would be a forgery.
			if again, _ := Mint(secret, c.Sub, c.Exp.Sub(now), now); again != tok {
				t.Fatalf("verified %q as %+v", tok, c)
			}
		}
	})
}

// signed signs claims as Mint would, for claims Mint does not make.
func signed(claims string) string {
	unsigned := header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	return unsigned + "." + sign(secret, unsigned)
}

func TestNotBeforeIsHonoured(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok := signed(`{"sub":"x","exp":1800003600,"nbf":1800000060}`)
	if _, err := Verify(secret, tok, now); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("before nbf: %v, want ErrNotYetValid", err)
	}
	if c, err := Verify(secret, tok, now.Add(time.Minute)); err != nil || c.Sub != "x" {
		t.Fatalf("at nbf: %+v %v", c, err)
	}
}
