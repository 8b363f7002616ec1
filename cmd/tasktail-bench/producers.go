package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// produce runs the producers.
func produce(ctx context.Context, c benchConfig) error {
	header := c.header()
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.producers, MaxConnsPerHost: c.producers}}
	defer hc.CloseIdleConnections()
	padding := strings.Repeat("x", c.size)
	began := time.Now()
	errs := make(chan error, c.producers)
	var wg sync.WaitGroup
	for p := range c.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.stream {
				if err := streamLogs(ctx, hc, c, p, header, padding, began); err != nil {
					errs <- err
				}
				return
			}
			poster, err := c.newPoster()
			if err != nil {
				errs <- err
				return
			}
			defer poster.close()
			var body []byte
			for m := 0; m < c.messages; m += c.batch {
				n := min(c.batch, c.messages-m)
				c.pace(began, p, m)
				path := c.prefix + strconv.Itoa(c.taskOf(p, m))
				body = body[:0]
				if c.cfKey != "" {
					path, body = c.centrifugoRequest(body, path, p, m, n, padding)
				} else {
					body = c.appendBatch(body, n, padding)
				}
				if err := poster.post(ctx, path, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// streamLogs sends producer p's messages on one streaming publish, c.batch lines per write.
func streamLogs(ctx context.Context, hc *http.Client, c benchConfig, p int, header http.Header, padding string, began time.Time) error {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/tasks/%s%d/logs", c.server, c.prefix, c.taskOf(p, 0)), pr)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/x-ndjson")
	answered := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			var ack struct{ Accepted int }
			err = json.NewDecoder(resp.Body).Decode(&ack)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusAccepted || ack.Accepted != c.messages) {
				err = fmt.Errorf("stream: %s, %d of %d accepted", resp.Status, ack.Accepted, c.messages)
			}
		}
		pr.CloseWithError(errors.New("stream answered"))
		answered <- err
	}()
	var lines []byte
	for m := range c.messages {
		c.pace(began, p, m)
		lines = append(c.appendMessage(lines, padding), '\n')
		if (m+1)%c.batch == 0 || m == c.messages-1 || c.rate > 0 {
			if _, err := pw.Write(lines); err != nil {
				break // the answer says why
			}
			lines = lines[:0]
		}
	}
	pw.Close()
	return <-answered
}

// appendBatch appends a publish body of n messages: one entry, or an array of them.
func (c benchConfig) appendBatch(b []byte, n int, padding string) []byte {
	if c.batch > 1 {
		b = append(b, '[')
	}
	for k := range n {
		if k > 0 {
			b = append(b, ',')
		}
		b = c.appendMessage(b, padding)
	}
	if c.batch > 1 {
		b = append(b, ']')
	}
	return b
}
