package wire

import (
	"math"
	"strconv"
	"time"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A task's status has one shape in the HTTP API, the answer of GET /v1/tasks/{task_id}
// and every item of GET /v1/tasks alike, serialized one way: from v1.Status's own fields,
// so that a field added to the message appears in both without another declaration.
// Every field is there, zero or not, under its proto name, numbers as JSON numbers, with
// three exceptions: found is left out (an answer is about a task that exists),
// last_active_unix_nano is written as last_active, an RFC 3339 time, and member only on a
// cluster member. state, the one derived field, follows
// task_id. (The Go client decodes it into client.Status.)

// Status is a task's status as the API writes it (encoding/json calls MarshalJSON).
type Status struct{ *v1.Status }

// MarshalJSON implements json.Marshaler with AppendStatus.
func (s Status) MarshalJSON() ([]byte, error) { return AppendStatus(nil, s.Status), nil }

// StateOf names a task's state: running, finished or failed.
func StateOf(st *v1.Status) string { return State(st.Finished, st.Failed) }

// State names the state of a task that has finished or not, and failed or not.
func State(finished, failed bool) string {
	switch {
	case failed:
		return "failed"
	case finished:
		return "finished"
	}
	return "running"
}

// AppendStatus appends st as the API's JSON object.
func AppendStatus(b []byte, st *v1.Status) []byte {
	m := st.ProtoReflect()
	fields := m.Descriptor().Fields()
	b = append(b, '{')
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, name)
		b = append(b, ':')
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		v := m.Get(fd)
		switch name := string(fd.Name()); name {
		case "found":
		case "last_active_unix_nano":
			key("last_active")
			b = appendJSONString(b, time.Unix(0, v.Int()).UTC().Format(time.RFC3339Nano))
		case "member":
			if v.String() != "" {
				key(name)
				b = appendJSONString(b, v.String())
			}
		default:
			key(name)
			b = appendValue(b, fd, v)
			if name == "task_id" {
				key("state")
				b = appendJSONString(b, StateOf(st))
			}
		}
	}
	return append(b, '}')
}

// appendValue appends a scalar field's value as JSON.
func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return appendJSONString(b, v.String())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return appendNumber(b, v.Float())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendJSONString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	}
	panic("wire: v1.Status has a field of kind " + fd.Kind().String() + ", which the API's JSON does not write")
}

// appendNumber writes f as encoding/json does; a value JSON cannot hold (NaN, ±Inf) is 0.
func appendNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-09 is e-9, as encoding/json writes it
		b = b[:n-1]
	}
	return b
}
