package termtext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		name, in, plain, sgr string
	}{
		{"plain", "hello\tworld", "hello\tworld", "hello\tworld"},
		{"sgr", "\x1b[31mred\x1b[0m", "red", "\x1b[31mred\x1b[0m"},
		{"256 and truecolor", "\x1b[38;5;196ma\x1b[38;2;1;2;3mb\x1b[38:2::1:2:3mc", "abc", "\x1b[38;5;196ma\x1b[38;2;1;2;3mb\x1b[38:2::1:2:3mc"},
		{"osc 0 title, BEL", "a\x1b]0;pwned\x07b", "ab", "ab"},
		{"osc 52 clipboard, ST", "a\x1b]52;c;ZXZpbA==\x1b\\b", "ab", "ab"},
		{"osc 8 link", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link", "link"},
		{"cursor moves and erase", "a\x1b[2Ab\x1b[10;20Hc\x1b[Kd\x1b[?25l", "abcd", "abcd"},
		{"private sgr-looking", "\x1b[?1m\x1b[>4;2mx", "x", "x"},
		{"dcs", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab", "ab"},
		{"short escapes", "a\x1bcb\x1b(Bc\x1b7d", "abcd", "abcd"},
		{"c0 controls", "a\x07b\x08c\x00d\x7fe", "abcde", "abcde"},
		{"c1 csi kept in 7-bit form", "a\u009b31mb", "ab", "a\x1b[31mb"},
		{"c1 osc", "a\u009d0;t\u009cb", "ab", "ab"},
		{"other c1", "a\u0085b", "ab", "ab"},
		{"unfinished at the end", "ok\x1b]0;never ends", "ok", "ok"},
		{"unfinished csi", "ok\x1b[31", "ok", "ok"},
		{"lone esc", "ok\x1b", "ok", "ok"},
		{"carriage return keeps the last state", "10%\r50%\r100%", "100%", "100%"},
		{"trailing carriage return", "done\r", "done", "done"},
		{"crlf", "a\r\nb", "a\nb", "a\nb"},
		{"sgr too long", "\x1b[" + strings.Repeat("1;", 40) + "mx", "x", "x"},
		{"unicode stays", "héllo ✓ \u00a0", "héllo ✓ \u00a0", "héllo ✓ \u00a0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in, false); got != tc.plain {
				t.Errorf("Clean(%q, false) = %q, want %q", tc.in, got, tc.plain)
			}
			if got := string(AppendClean([]byte("> "), tc.in, false)); got != "> "+tc.plain {
				t.Errorf("AppendClean(\"> \", %q, false) = %q, want %q", tc.in, got, "> "+tc.plain)
			}
			if got := Clean(tc.in, true); got != tc.sgr {
				t.Errorf("Clean(%q, true) = %q, want %q", tc.in, got, tc.sgr)
			}
		})
	}
}

// FuzzClean: whatever the input, the result has no control character but tab and
// newline, and with keepSGR every escape left is an SGR sequence.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"\x1b[31mred\x1b[0m", "\x1b]52;c;eA==\x07", "\u009b1m", "a\rb", "\x1bP\x1b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		plain := Clean(s, false)
		for _, r := range plain {
			if r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r <= 0x9f {
				t.Fatalf("Clean(%q, false) = %q keeps %U", s, plain, r)
			}
		}
		if Clean(plain, false) != plain {
			t.Fatalf("Clean is not idempotent on %q", s)
		}
		kept := Clean(s, true)
		for i := 0; i < len(kept); i++ {
			if kept[i] != 0x1b {
				continue
			}
			end := strings.IndexByte(kept[i:], 'm')
			if end < 0 || i+1 >= len(kept) || kept[i+1] != '[' || strings.Trim(kept[i+2:i+end], "0123456789;:") != "" {
				t.Fatalf("Clean(%q, true) = %q keeps a sequence that is not SGR at %d", s, kept, i)
			}
		}
	})
}
