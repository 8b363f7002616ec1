package actors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The library's routine records stay out of an operator's log; its warnings do not.
func TestLibraryHandler(t *testing.T) {
	for _, tc := range []struct {
		level     slog.Level
		want, not []string
	}{
		{slog.LevelInfo, []string{"endpoint failed"}, []string{"member joined", "cluster.RequestFuture failed"}},
		{slog.LevelDebug, []string{"endpoint failed", "member joined", "level=DEBUG msg=\"cluster.RequestFuture failed\""}, nil},
	} {
		var out bytes.Buffer
		log := slog.New(libraryHandler{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tc.level})}).With("component", "actor")
		log.Info("member joined")
		log.Error("cluster.RequestFuture failed")
		log.Warn("endpoint failed")
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("at %v: %q missing from\n%s", tc.level, w, out.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out.String(), n) {
				t.Errorf("at %v: %q logged:\n%s", tc.level, n, out.String())
			}
		}
	}
}
