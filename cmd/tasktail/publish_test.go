package main

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// A line becomes messages of at most maxBytes of valid UTF-8: whole, split at rune
// boundaries, or cut with a marker that counts what went.
func TestLineMessages(t *testing.T) {
	split := &lineOptions{maxBytes: 100, longLines: longLinesSplit}
	cut := &lineOptions{maxBytes: 100, longLines: longLinesCut}
	cases := []struct {
		name  string
		o     *lineOptions
		line  string
		drop  int
		parts int
		check func([]string) bool
	}{
		{"short", split, "hello", 0, 1, func(m []string) bool { return m[0] == "hello" }},
		{"split at runes", split, strings.Repeat("é", 120), 0, 3, func(m []string) bool { return strings.Join(m, "") == strings.Repeat("é", 120) }},
		{"cut", cut, strings.Repeat("x", 250), 0, 1, func(m []string) bool { return strings.HasPrefix(m[0], "xxx") && strings.HasSuffix(m[0], " bytes cut]") }},
		{"invalid UTF-8 mended", split, "a\xffb", 0, 1, func(m []string) bool { return m[0] == "a\uFFFDb" }},
		{"beyond the read bound", split, "short", 42, 1, func(m []string) bool { return strings.HasSuffix(m[0], "…[42 bytes cut]") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.o.messages(tc.line, tc.drop)
			if len(m) != tc.parts || !tc.check(m) {
				t.Fatalf("%d messages %q", len(m), m)
			}
			for _, part := range m {
				if len(part) > tc.o.maxBytes || !utf8.ValidString(part) {
					t.Fatalf("part of %d bytes, valid %v", len(part), utf8.ValidString(part))
				}
			}
		})
	}
	// The cut marker counts exactly what went.
	m := cut.messages(strings.Repeat("x", 250), 0)
	kept := strings.Count(m[0], "x")
	if !strings.HasSuffix(m[0], "…["+strconv.Itoa(250-kept)+" bytes cut]") {
		t.Fatalf("cut message %q keeps %d of 250", m[0], kept)
	}
}
