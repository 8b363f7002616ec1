package wire

// BatchSubprotocol is the WebSocket subprotocol a viewer offers to receive batches: each
// text message is then a JSON array of one or more frames, in order, instead of one
// frame (docs/design.md, "Batches"). A viewer that does not offer it gets one frame per
// message, as before. What the frames say, their order, seqs, resume and close codes are
// the same either way.
const BatchSubprotocol = "tasktail.batch"

// AppendBatch appends frames as one JSON array: each frame is a JSON object already, so
// the array is the frames joined by commas.
func AppendBatch(b []byte, frames [][]byte) []byte {
	b = append(b, '[')
	for i, frame := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, frame...)
	}
	return append(b, ']')
}
