package main

import (
	"context"

	"github.com/tasktail/tasktail/client"
)

// maxLinesPerBatch bounds one batch of lines; the server's default batch limit is 1000.
const maxLinesPerBatch = 500

// publishLines publishes what arrives on lines, in order, as batches of whatever is
// waiting, until lines is closed. A failed batch is reported to onError and dropped, so a
// slow or absent server never stops the producer.
func publishLines(ctx context.Context, c *client.Client, taskID string, lines <-chan client.Log, onError func(error)) {
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
		if _, err := c.PublishBatch(ctx, taskID, batch); err != nil {
			onError(err)
		}
	}
}
