package wire

// Close codes of the contract (docs/design.md, "WebSocket frames").
const (
	CloseNormal        CloseCode = 1000 // task finished or deleted
	CloseGoingAway     CloseCode = 1001 // server shutting down or task moving: resume with since
	ClosePolicy        CloseCode = 1008 // authentication
	CloseInternal      CloseCode = 1011 // a write failed
	CloseTryAgainLater CloseCode = 1013 // slow consumer: resume with since
)

// CloseCode is a WebSocket close status code.
type CloseCode uint16
