package wire

import (
	"strconv"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// fastDecode decodes the publish bodies producers almost always send, without reflection:
// one object, or a non-empty array of objects, with the four known keys in lower case,
// each at most once, level and message present, strings without escapes, progress a JSON
// number, finished true or false. For anything else it returns ok false, and
// DecodePublish decodes the body with encoding/json, which also words the errors. Where
// fastDecode succeeds, both give the same entries (checked by the fuzzers). The body must
// be valid UTF-8.
func fastDecode(body []byte) (entries []*v1.LogInput, batch, ok bool) {
	s := scanner{b: body}
	s.space()
	if s.peek() != '[' {
		e, ok := s.object()
		s.space()
		if !ok || s.i != len(s.b) {
			return nil, false, false
		}
		return []*v1.LogInput{e}, false, true
	}
	s.i++
	for {
		s.space()
		e, ok := s.object()
		if !ok {
			return nil, true, false
		}
		entries = append(entries, e)
		s.space()
		switch s.next() {
		case ',':
			continue
		case ']':
			s.space()
			return entries, true, s.i == len(s.b)
		default:
			return nil, true, false
		}
	}
}

// scanner reads JSON from b at i; at the end it reads 0, which no JSON token starts with.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) next() byte {
	c := s.peek()
	s.i++
	return c
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// object reads one log entry.
func (s *scanner) object() (*v1.LogInput, bool) {
	if s.next() != '{' {
		return nil, false
	}
	const level, message, progress, finished = 1, 2, 4, 8
	e, seen := &v1.LogInput{}, 0 // no progress: the task's stays
	for {
		s.space()
		key, ok := s.plainString()
		s.space()
		if !ok || s.next() != ':' {
			return nil, false
		}
		s.space()
		field := 0
		switch string(key) {
		case "level":
			field = level
			var name []byte
			name, ok = s.plainString()
			e.Level = LevelNamed(name)
			ok = ok && e.Level != 0
		case "message":
			field = message
			var text []byte
			text, ok = s.plainString()
			e.Message = string(text)
		case "progress":
			field = progress
			var p float64
			p, ok = s.number()
			e.Progress = &p // its range is checked with the other rules (CheckMessage)
		case "finished":
			field = finished
			e.Finished, ok = s.boolean()
		}
		if !ok || field == 0 || seen&field != 0 {
			return nil, false
		}
		seen |= field
		s.space()
		switch s.next() {
		case ',':
		case '}':
			return e, seen&(level|message) == level|message
		default:
			return nil, false
		}
	}
}

// plainString reads a string without escapes or control characters, returning its bytes
// in b.
func (s *scanner) plainString() ([]byte, bool) {
	if s.next() != '"' {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number reads a number of JSON's grammar that fits a float64.
func (s *scanner) number() (float64, bool) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return 0, false
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return 0, false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	return f, err == nil
}

// digits reads one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) boolean() (bool, bool) {
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}
