package record

import "github.com/tasktail/tasktail/journal"

// Reading a task's entries a page at a time. Each page is a short read of the store that
// copies at most about ReadPageBytes of chunks (at least one) and lets go of the store
// (Pebble's iterator, a PostgreSQL connection) before the caller sees an entry. A caller
// that is slow to take them, a download to a slow client say, holds neither, and what a
// read holds is a page, whatever the task's size.

const (
	// MaxChunkBytes bounds a stored chunk: a commit splits a task's entries into chunks of
	// at most this many encoded bytes (an entry larger than it is a chunk of its own).
	MaxChunkBytes = 64 << 10
	// ReadPageBytes is about how much of a task's chunks one page of a read copies.
	ReadPageBytes = 256 << 10
)

// Chunk is a chunk as a page copied it: its first seq and its encoded entries. Data is
// the page's own copy and is never written again: the strings of the entries read from
// it point into it (DecodeChunk, owned).
type Chunk struct {
	First uint64
	Data  []byte
}

// ReadPaged implements Read over a store's two reads: start returns the first seq of the
// chunk that holds from (or any seq at or below the task's first chunk's), and page the
// task's chunks whose first seq is at least at, in order: at least one while there are
// any, and about ReadPageBytes at most.
func ReadPaged(from uint64, start func() (uint64, error), page func(at uint64) ([]Chunk, error), fn func(journal.Entry) bool) error {
	at, err := start()
	if err != nil {
		return err
	}
	for {
		chunks, err := page(at)
		if err != nil || len(chunks) == 0 {
			return err
		}
		for _, c := range chunks {
			if more, err := ReadChunk(c.Data, c.First, from, fn); err != nil || !more {
				return err
			}
		}
		at = chunks[len(chunks)-1].First + 1
	}
}

// PutChunks encodes entries as chunks of at most MaxChunkBytes each (see MaxChunkBytes)
// and calls put with each chunk's first seq, entry count and bytes, in order. buf is
// reused for the bytes, which put must copy to keep; it returns buf to reuse again.
func PutChunks(buf []byte, entries []journal.Entry, put func(first uint64, n int, data []byte) error) ([]byte, error) {
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && (n == 0 || size+encodedSize(entries[n]) <= MaxChunkBytes) {
			size += encodedSize(entries[n])
			n++
		}
		buf = AppendChunk(buf[:0], entries[:n])
		if err := put(entries[0].Seq, n, buf); err != nil {
			return buf, err
		}
		entries = entries[n:]
	}
	return buf, nil
}

// encodedSize is at least what AppendChunk takes for e (varints at their longest).
func encodedSize(e journal.Entry) int { return 10 + 2 + 8 + 10 + len(e.Message) }
