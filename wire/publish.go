package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// logInput is one message of a publish body. Pointers tell a missing field from a zero one.
type logInput struct {
	Level    *string  `json:"level"`
	Message  *string  `json:"message"`
	Progress *float64 `json:"progress"`
	Finished *bool    `json:"finished"`
	// The optional attributes (docs/design.md, "How a log reads").
	Stream    *string `json:"stream"`
	Update    *bool   `json:"update"`
	Section   *string `json:"section"`
	Timestamp *string `json:"timestamp"`
}

// DecodePublish decodes a publish body: one JSON object, or an array of them (a batch).
// Unknown fields, missing level or message, trailing data and invalid UTF-8 are refused
// with an *InvalidError naming the field ("[2].level" inside a batch). Range and
// size rules are the Manager's.
func DecodePublish(body []byte) (entries []*v1.LogInput, batch bool, err error) {
	if !utf8.Valid(body) {
		return nil, false, Invalid("body", "must be valid UTF-8")
	}
	if entries, batch, ok := fastDecode(body); ok {
		return entries, batch, nil
	}
	return decodeJSON(body)
}

// decodeJSON is DecodePublish with encoding/json, for any body fastDecode leaves.
func decodeJSON(body []byte) (entries []*v1.LogInput, batch bool, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, false, Invalid("body", "must be a JSON object or array")
	}
	batch = trimmed[0] == '['
	if err := strictKeys(trimmed); err != nil {
		return nil, batch, err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var items []*logInput
	if batch {
		err = dec.Decode(&items)
	} else {
		var one logInput
		err = dec.Decode(&one)
		items = []*logInput{&one}
	}
	if err != nil {
		return nil, batch, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, batch, Invalid("body", "must hold one JSON value")
	}
	entries = make([]*v1.LogInput, len(items))
	for i, in := range items {
		prefix := ""
		if batch {
			prefix = fmt.Sprintf("[%d].", i)
		}
		if entries[i], err = in.toProto(prefix); err != nil {
			return nil, batch, err
		}
	}
	return entries, batch, nil
}

func (in *logInput) toProto(prefix string) (*v1.LogInput, error) {
	if in == nil {
		return nil, Invalid(strings.TrimSuffix(prefix, "."), "must be an object")
	}
	if in.Level == nil {
		return nil, Invalid(prefix+"level", "required")
	}
	level, err := ParseLevel(*in.Level)
	if err != nil {
		return nil, Invalid(prefix+"level", "must be one of "+LevelList)
	}
	if in.Message == nil {
		return nil, Invalid(prefix+"message", "required")
	}
	// Its range is checked with the other rules (CheckMessage), once for every way in.
	out := &v1.LogInput{Level: level, Message: *in.Message, Progress: in.Progress}
	if in.Finished != nil {
		out.Finished = *in.Finished
	}
	attrs, err := in.attrs(prefix)
	out.Attrs = attrs
	return out, err
}

// attrs returns the entry's attributes, nil when it has none.
func (in *logInput) attrs(prefix string) (*v1.LineAttrs, error) {
	if in.Stream == nil && in.Update == nil && in.Section == nil && in.Timestamp == nil {
		return nil, nil
	}
	a := &v1.LineAttrs{}
	if in.Stream != nil {
		a.Stream = *in.Stream
	}
	if in.Update != nil {
		a.Update = *in.Update
	}
	if in.Section != nil {
		if a.Section = SectionNamed(*in.Section); a.Section == v1.Section_SECTION_NONE {
			return nil, Invalid(prefix+"section", "must be start or end")
		}
	}
	if in.Timestamp != nil {
		t, err := time.Parse(time.RFC3339Nano, *in.Timestamp)
		if err != nil || t.UnixNano() <= 0 {
			return nil, Invalid(prefix+"timestamp", "must be an RFC 3339 time, such as 2026-11-21T10:00:00.123Z")
		}
		a.ProducedUnixNano = t.UnixNano()
	}
	if a.Stream == "" && !a.Update && a.Section == 0 && a.ProducedUnixNano == 0 {
		return nil, nil // every field at its default: a plain message
	}
	return a, nil
}

// jsonError turns an encoding/json error into an invalid-argument error naming the field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return Invalid(field, "must be a JSON "+jsonType(typeErr.Type.String()))
	case errors.As(err, &syntaxErr):
		return Invalid("body", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Invalid("body", "malformed JSON: unexpected end")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Invalid(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	}
	return Invalid("body", "malformed JSON")
}

func jsonType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "string"
	case "float64":
		return "number"
	case "bool":
		return "boolean"
	case "[]*wire.logInput":
		return "array"
	}
	return "object"
}

// publishKeys are the keys of a log entry, as the contract spells them.
var publishKeys = [...]string{"level", "message", "progress", "finished", "stream", "update", "section", "timestamp"}

// strictKeys refuses what encoding/json would take leniently: a key twice in one object
// (it keeps the last) and a key that matches a field only without regard to case. A body
// that is not JSON passes, for the decoder to word its error.
func strictKeys(body []byte) error {
	type frame struct {
		object  bool
		keyNext bool // in an object: the next token is a key
		keys    map[string]bool
		index   int // in an array: the elements so far
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				return nil // the one value ended; what follows is the decoder's to refuse
			}
			continue
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.keyNext {
			key, _ := tok.(string)
			prefix := ""
			if len(stack) == 2 && !stack[0].object {
				prefix = fmt.Sprintf("[%d].", stack[0].index-1)
			}
			if top.keys[key] {
				return Invalid(prefix+key, "appears more than once")
			}
			for _, k := range publishKeys {
				if key != k && strings.EqualFold(key, k) {
					return Invalid(prefix+key, "unknown field (keys are lower case: "+k+")")
				}
			}
			top.keys[key], top.keyNext = true, false
			continue
		}
		// A value starts.
		switch {
		case top == nil:
		case top.object:
			top.keyNext = true
		default:
			top.index++
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{object: d == '{', keyNext: true, keys: map[string]bool{}})
		} else if top == nil {
			return nil
		}
	}
}
