// Package pgtest gives tests a database on a throwaway PostgreSQL (pgserver), and a proxy
// that cuts or holds a commit's answer.
package pgtest

import (
	"errors"
	"os"
	"testing"

	"github.com/tasktail/tasktail/internal/pgserver"
)

// ForTest returns the URL of a new database on the test binary's shared server. Without
// PostgreSQL the test is skipped, except under CI=true, where that is a failure.
func ForTest(t testing.TB) string {
	t.Helper()
	s, err := pgserver.Shared()
	if errors.Is(err, pgserver.ErrMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	url, err := s.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}
