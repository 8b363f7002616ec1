package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/cli"
)

// maxLinesPerBatch bounds one batch of lines; the server's default batch limit is 1000.
const maxLinesPerBatch = 500

// publishLines publishes what arrives on lines, in order, as batches of whatever is
// waiting, until lines is closed. A transient failure is retried with backoff; a batch
// the server refuses for one line's sake is published line by line, so that only that
// line is lost; what is lost is reported to onError, with how many lines. A slow or absent
// server never stops the producer for longer than the retries.
func publishLines(ctx context.Context, c *client.Client, taskID string, lines <-chan client.Log, onError func(lost int, err error)) {
	batch := make([]client.Log, 0, maxLinesPerBatch)
	for first := range lines {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxLinesPerBatch {
			select {
			case l, ok := <-lines:
				if !ok {
					break fill
				}
				batch = append(batch, l)
			default:
				break fill
			}
		}
		publishBatch(ctx, c, taskID, batch, onError)
	}
}

// publishBatch publishes one batch under an idempotency key of its own, so that a retry
// after a lost answer stores it once.
func publishBatch(ctx context.Context, c *client.Client, taskID string, batch []client.Log, onError func(lost int, err error)) {
	err := withRetries(ctx, func() error {
		_, err := c.PublishBatchOnce(ctx, taskID, newKey(), batch)
		return err
	})
	var api *client.APIError
	switch {
	case err == nil:
	case len(batch) > 1 && errors.As(err, &api) && (api.Status == http.StatusBadRequest || api.Status == http.StatusRequestEntityTooLarge):
		for i := range batch {
			publishBatch(ctx, c, taskID, batch[i:i+1], onError)
		}
	default:
		onError(len(batch), err)
	}
}

// newKey returns a random idempotency key.
func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// retryBackoff are the pauses between the attempts of a publish that failed for a
// transient reason: about 6 s in all.
var retryBackoff = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second}

// withRetries calls f until it succeeds, fails for good, or the retries are spent.
func withRetries(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !transient(err) || attempt == len(retryBackoff) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(retryBackoff[attempt]):
		case <-ctx.Done():
			return err
		}
	}
}

// transient reports whether a failed publish may succeed if tried again: no answer, too
// many requests, or the server unavailable.
func transient(err error) bool {
	var api *client.APIError
	if !errors.As(err, &api) {
		return !errors.Is(err, context.Canceled)
	}
	return api.Status == http.StatusTooManyRequests || api.Status >= 500
}

// Long lines: a line over the server's message limit is split into parts, or cut with a
// marker that says how much, as --long-lines says.
const (
	longLinesSplit = "split"
	longLinesCut   = "cut"
)

// maxLineBytes bounds a line held in memory; what a longer line has beyond it is cut.
const maxLineBytes = 8 << 20

// lineOptions say how lines become messages.
type lineOptions struct {
	maxBytes  int            // the server's --max-message-bytes
	longLines string         // longLinesSplit or longLinesCut
	progress  *regexp.Regexp // run --progress-pattern; nil: lines carry no progress
}

// progressOf is the progress a line states by the progress pattern, or KeepProgress.
func (o *lineOptions) progressOf(line string) float64 {
	if o.progress == nil {
		return client.KeepProgress
	}
	m := o.progress.FindStringSubmatch(line)
	if m == nil {
		return client.KeepProgress
	}
	text := m[0]
	if len(m) > 1 {
		text = m[1]
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || !(p >= 0 && p <= 100) {
		return client.KeepProgress
	}
	return p
}

// addLineFlags adds --long-lines and --max-message-bytes to a command.
func addLineFlags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) *lineOptions {
	o := &lineOptions{}
	fs.StringVar(&o.longLines, "long-lines", longLinesSplit, "a line longer than --max-message-bytes: split (into parts) or cut (with a marker)")
	fs.IntVar(&o.maxBytes, "max-message-bytes", 64<<10, "the server's --max-message-bytes")
	return o
}

func (o *lineOptions) validate() error {
	if o.longLines != longLinesSplit && o.longLines != longLinesCut {
		return cli.Usagef("--long-lines %q: want %s or %s", o.longLines, longLinesSplit, longLinesCut)
	}
	if o.maxBytes < 64 {
		return cli.Usagef("--max-message-bytes %d: want at least 64", o.maxBytes)
	}
	return nil
}

// messages turns one line into the messages to publish: valid UTF-8 (a bad byte becomes
// U+FFFD), each at most maxBytes, split or cut. cut is what reading dropped beyond
// maxLineBytes.
func (o *lineOptions) messages(line string, cut int) []string {
	line = strings.ToValidUTF8(line, "\uFFFD")
	if len(line) <= o.maxBytes && cut == 0 {
		return []string{line}
	}
	if o.longLines == longLinesCut || len(line) <= o.maxBytes {
		marker := func(n int) string { return fmt.Sprintf("…[%d bytes cut]", n) }
		keep := prefix(line, o.maxBytes-len(marker(len(line)+cut)))
		return []string{keep + marker(len(line)-len(keep)+cut)}
	}
	var parts []string
	for len(line) > 0 {
		part := prefix(line, o.maxBytes)
		parts = append(parts, part)
		line = line[len(part):]
	}
	if cut > 0 {
		parts = append(parts, fmt.Sprintf("…[%d bytes cut]", cut))
	}
	return parts
}

// prefix returns the longest prefix of s of at most n bytes that ends between runes.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// readLines calls each with every line of r (without its newline) and how many bytes of
// it were dropped beyond maxLineBytes, until r ends.
func readLines(r io.Reader, each func(line string, cut int)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	cut := 0
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if len(line) > 0 || cut > 0 {
				each(string(line), cut)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		room := maxLineBytes - len(line)
		if len(chunk) > room {
			cut += len(chunk) - room
			chunk = chunk[:room]
		}
		line = append(line, chunk...)
		if !isPrefix {
			each(string(line), cut)
			line, cut = line[:0], 0
		}
	}
}
