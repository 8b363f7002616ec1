// Package termtext makes a log message safe to print on a terminal: it removes escape
// sequences and control characters, keeping, when asked, only the sequences that colour
// text (SGR). It is pure and holds no state between calls.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// maxSGR bounds the parameters of an SGR sequence kept on a terminal; a longer one is
// dropped like any other sequence.
const maxSGR = 64

// Clean returns s as a terminal should receive it from a log: every escape sequence
// (CSI, OSC, DCS, SOS, PM, APC and the short ESC forms, in their 7-bit and C1 forms) and
// every control character but tab and newline removed. With keepSGR the sequences that
// only colour and style text (ESC [ digits ; : m) stay. A line rewritten with \r keeps its
// last state: the text after its last \r that is not empty. An unfinished sequence at the
// end is dropped.
func Clean(s string, keepSGR bool) string {
	if clean(s) {
		return s
	}
	return string(AppendClean(make([]byte, 0, len(s)), s, keepSGR))
}

// AppendClean appends what Clean returns for s to b: a caller that cleans many messages
// reuses one buffer.
func AppendClean(b []byte, s string, keepSGR bool) []byte {
	if clean(s) {
		return append(b, s...)
	}
	lineStart := len(b) // where the current line starts in b: \r rewinds to it
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			n, sgr := sequence(s, i+1, false)
			if keepSGR && sgr {
				b = append(b, s[i:i+n]...)
			}
			i += n
		case c == '\n':
			b = append(b, c)
			lineStart = len(b)
			i++
		case c == '\r':
			// The text after \r replaces the line's text, unless nothing follows on it.
			j := i + 1
			for j < len(s) && s[j] == '\r' {
				j++
			}
			if j < len(s) && s[j] != '\n' {
				b = b[:lineStart]
			}
			i = j
		case c == '\t':
			b = append(b, c)
			i++
		case c < 0x20 || c == 0x7f:
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 { // a byte of no character: no parts of one join up
				b = append(b, "\uFFFD"...)
				i++
				continue
			}
			if r >= 0x80 && r <= 0x9f { // a C1 control: some introduce a sequence
				n, sgr := sequence(s, i+size, true)
				if r == 0x9b && keepSGR && sgr { // 8-bit CSI: kept in its 7-bit form
					b = append(b, "\x1b["...)
					b = append(b, s[i+size:i+n]...)
				}
				i += n
				continue
			}
			b = append(b, s[i:i+size]...)
			i += size
		}
	}
	return b
}

// clean reports whether s has nothing Clean would change.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0 {
			return false
		}
	}
	return true
}

// sequence measures the escape sequence whose introducer ends just before s[at]: for
// ESC (c1 false) s[at] says which kind; for a C1 control (c1 true) s[at-size] was it and
// the caller passes at past it, so the kind is read from the control itself. It returns
// the length from the introducer's first byte and whether it is an SGR sequence.
func sequence(s string, at int, c1 bool) (int, bool) {
	start := at - 1 // ESC is one byte
	kind := byte(0)
	if c1 {
		r, size := utf8.DecodeLastRuneInString(s[:at])
		start = at - size
		switch r {
		case 0x9b:
			kind = '['
		case 0x9d:
			kind = ']'
		case 0x90, 0x98, 0x9e, 0x9f:
			kind = 'P'
		default:
			return size, false
		}
	} else {
		if at >= len(s) {
			return 1, false
		}
		kind = s[at]
		at++
	}
	switch kind {
	case '[':
		return csi(s, start, at)
	case ']', 'P', 'X', '^', '_':
		return stringEnd(s, at) - start, false
	}
	if c1 {
		return at - start, false
	}
	// ESC, intermediates (0x20-0x2f), then one final byte (0x30-0x7e).
	i := at - 1
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i - start, false
}

// csi measures a control sequence whose parameters start at s[at]: parameter bytes
// (0x30-0x3f), intermediate bytes (0x20-0x2f), a final byte (0x40-0x7e). Anything else
// ends it early (and is not part of it), as terminals do.
func csi(s string, start, at int) (int, bool) {
	i := at
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	params := s[at:i]
	inter := i
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i >= len(s) || s[i] < 0x40 || s[i] > 0x7e {
		return i - start, false
	}
	sgr := s[i] == 'm' && inter == i && len(params) <= maxSGR && strings.Trim(params, "0123456789;:") == ""
	return i + 1 - start, sgr
}

// stringEnd finds the end of a control string (OSC, DCS, SOS, PM, APC) that starts at
// s[at]: after its terminator, BEL, ESC \ or ST (U+009C), or the end of s.
func stringEnd(s string, at int) int {
	for i := at; i < len(s); i++ {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i // another sequence starts: this one was cut
		case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == 0x9c:
			return i + 2
		}
	}
	return len(s)
}
