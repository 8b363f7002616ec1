package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// logInput is one message of a publish body. Pointers tell a missing field from a zero one.
type logInput struct {
	Level    *string  `json:"level"`
	Message  *string  `json:"message"`
	Progress *float64 `json:"progress"`
	Finished *bool    `json:"finished"`
}

// decodePublish decodes a publish body: one JSON object, or an array of them (a batch).
// Unknown fields, missing level or message, trailing data and invalid UTF-8 are refused
// with an *actors.InvalidError naming the field ("[2].level" inside a batch). Range and
// size rules are the Manager's.
func decodePublish(body []byte) (entries []*v1.LogInput, batch bool, err error) {
	if !utf8.Valid(body) {
		return nil, false, invalidField("body", "must be valid UTF-8")
	}
	if entries, batch, ok := fastDecode(body); ok {
		return entries, batch, nil
	}
	return decodeJSON(body)
}

// decodeJSON is decodePublish with encoding/json, for any body fastDecode leaves.
func decodeJSON(body []byte) (entries []*v1.LogInput, batch bool, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, false, invalidField("body", "must be a JSON object or array")
	}
	batch = trimmed[0] == '['
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
		return nil, batch, invalidField("body", "must hold one JSON value")
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
		return nil, invalidField(strings.TrimSuffix(prefix, "."), "must be an object")
	}
	if in.Level == nil {
		return nil, invalidField(prefix+"level", "required")
	}
	level, err := actors.ParseLevel(*in.Level)
	if err != nil {
		return nil, invalidField(prefix+"level", "must be one of "+conn.LevelList)
	}
	if in.Message == nil {
		return nil, invalidField(prefix+"message", "required")
	}
	out := &v1.LogInput{Level: level, Message: *in.Message, Progress: actors.KeepProgress}
	if in.Progress != nil {
		if p := *in.Progress; !(p >= 0 && p <= 100) {
			return nil, invalidField(prefix+"progress", "must be a number from 0 to 100")
		}
		out.Progress = *in.Progress
	}
	if in.Finished != nil {
		out.Finished = *in.Finished
	}
	return out, nil
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
		return invalidField(field, "must be a JSON "+jsonType(typeErr.Type.String()))
	case errors.As(err, &syntaxErr):
		return invalidField("body", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalidField("body", "malformed JSON: unexpected end")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalidField(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	}
	return invalidField("body", "malformed JSON")
}

func jsonType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "string"
	case "float64":
		return "number"
	case "bool":
		return "boolean"
	case "[]*server.logInput":
		return "array"
	}
	return "object"
}

func invalidField(field, reason string) *actors.InvalidError {
	return &actors.InvalidError{Field: field, Reason: reason}
}
