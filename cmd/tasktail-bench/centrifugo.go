package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coder/websocket"
)

// Centrifugo mode (--centrifugo-api-key): the same loads against Centrifugo v6, the other
// yardstick of BENCHMARKS.md. A viewer is a client of its JSON protocol on
// /connection/websocket, subscribed to a channel named like the task (the server allows
// anonymous subscriptions: scripts/centrifugo.json); producers publish through its server
// HTTP API, one /api/publish per message or one /api/batch per batch. Each message's data
// is a log frame that also carries its producer and that producer's sequence, so viewers
// count order per producer, which is what a reader relies on (a channel's own offset
// exists only with history on).

// dialCentrifugo connects a viewer and subscribes it to channel.
func dialCentrifugo(ctx context.Context, view, channel string) (*websocket.Conn, error) {
	conn, _, err := websocket.Dial(ctx, wsURL(view)+"/connection/websocket", nil)
	if err != nil {
		return nil, err
	}
	name, _ := json.Marshal(channel)
	for _, cmd := range []string{`{"id":1,"connect":{}}`, `{"id":2,"subscribe":{"channel":` + string(name) + `}}`} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
			conn.CloseNow()
			return nil, err
		}
		_, reply, err := conn.Read(ctx)
		if err == nil && bytes.Contains(reply, []byte(`"error"`)) {
			err = fmt.Errorf("%s: %s", cmd, reply)
		}
		if err != nil {
			conn.CloseNow()
			return nil, err
		}
	}
	return conn, nil
}

// centrifugoRequest appends the API request that publishes producer p's messages m to
// m+n-1 to channel, and returns the API method it goes to.
func (c benchConfig) centrifugoRequest(b []byte, channel string, p, m, n int, padding string) (string, []byte) {
	method := "publish"
	if c.batch > 1 {
		method = "batch"
		b = append(b, `{"commands":[`...)
	}
	quoted, _ := json.Marshal(channel)
	for k := range n {
		if k > 0 {
			b = append(b, ',')
		}
		if c.batch > 1 {
			b = append(b, `{"publish":`...)
		}
		b = append(b, `{"channel":`...)
		b = append(b, quoted...)
		b = append(b, `,"data":{"type":"log","producer":`...)
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, int64(m+k+1), 10)
		b = append(b, ',')
		at := len(b)
		b = c.appendMessage(b, padding)
		b = append(b[:at], b[at+1:]...) // its fields, without its opening brace
		b = append(b, '}')
		if c.batch > 1 {
			b = append(b, '}')
		}
	}
	if c.batch > 1 {
		b = append(b, `]}`...)
	}
	return method, b
}

// newPoster is a producer's connection: to tasktail's publish, or to Centrifugo's server
// API, which answers 200 with any error in the body.
func (c benchConfig) newPoster() (*poster, error) {
	if c.cfKey == "" {
		return newPoster(c.server, c.key)
	}
	p, err := newPoster(c.server, "")
	if err != nil {
		return nil, err
	}
	p.prefix = []byte("POST /api/")
	p.head = []byte(" HTTP/1.1\r\nHost: " + p.addr + "\r\nContent-Type: application/json\r\nX-API-Key: " + c.cfKey + "\r\nContent-Length: ")
	p.want, p.failOn = http.StatusOK, []byte(`"error"`)
	return p, nil
}
