// Package record is how the journal's backends encode what they store: a task's meta,
// its idempotency keys and its entries as chunks, each with a version byte, and how they
// read a task's entries a page at a time.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/tasktail/tasktail/journal"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// The records are small binary encodings with a version byte, so that a later version can
// read what an earlier one wrote. Chunks of version 2 carried idempotency keys on their
// entries; they have records of their own since version 3. Version 4 adds each entry's
// attributes (v1.LineAttrs); a chunk none of whose entries has any is written as version 3.
const (
	recordVersion = 1
	keyedChunks   = 2
	plainChunks   = 3 // entries without attributes
	chunkVersion  = 4
)

// The flags byte of an entry in a chunk of version 4 says which attributes follow.
const (
	attrStream   = 1 << 0
	attrUpdate   = 1 << 1
	attrProduced = 1 << 2
	attrSection  = 3 << 3 // two bits: v1.Section
)

var ErrCorrupt = errors.New("corrupt journal record")

// AppendMeta encodes m.
func AppendMeta(b []byte, m journal.Meta) []byte {
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(m.Epoch)))
	b = append(b, m.Epoch...)
	b = binary.AppendUvarint(b, m.LastSeq)
	b = binary.AppendUvarint(b, m.Seen)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Progress))
	b = append(b, boolByte(m.Finished))
	b = binary.AppendVarint(b, m.Active)
	b = binary.AppendVarint(b, m.FinishedAt)
	b = binary.AppendUvarint(b, m.FirstSeq)
	b = binary.AppendVarint(b, m.Bytes)
	b = binary.AppendUvarint(b, m.Owner)
	b = append(b, boolByte(m.Failed))
	b = binary.AppendUvarint(b, uint64(m.Keys))
	b = binary.AppendUvarint(b, uint64(len(m.Streams)))
	for _, s := range m.Streams {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// DecodeMeta decodes a record AppendMeta wrote.
func DecodeMeta(b []byte) (journal.Meta, error) {
	d := decoder{b: b}
	if d.byte() != recordVersion {
		return journal.Meta{}, fmt.Errorf("meta: %w", ErrCorrupt)
	}
	m := journal.Meta{Epoch: d.string(), LastSeq: d.uvarint(), Seen: d.uvarint(), Progress: d.float()}
	m.Finished = d.byte() == 1
	m.Active, m.FinishedAt = d.varint(), d.varint()
	if len(d.b) > 0 { // fields a later version added stay zero in an older record
		m.FirstSeq, m.Bytes = d.uvarint(), d.varint()
	}
	if len(d.b) > 0 {
		m.Owner = d.uvarint()
	}
	if len(d.b) > 0 {
		m.Failed = d.byte() == 1
	}
	if len(d.b) > 0 {
		m.Keys = int(d.uvarint())
	}
	if len(d.b) > 0 {
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Streams = append(m.Streams, d.string())
		}
	}
	if d.err != nil {
		return journal.Meta{}, fmt.Errorf("meta: %w", d.err)
	}
	return m, nil
}

// AppendKey encodes an idempotency key record; its last seq is in the record's key.
func AppendKey(b []byte, k journal.Key) []byte {
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(k.Key)))
	b = append(b, k.Key...)
	b = binary.LittleEndian.AppendUint64(b, k.Hash)
	b = binary.AppendUvarint(b, k.First)
	return binary.AppendVarint(b, k.At)
}

// DecodeKey decodes a record AppendKey wrote for the publish that ended at last.
func DecodeKey(b []byte, last uint64) (journal.Key, error) {
	d := decoder{b: b}
	if d.byte() != recordVersion {
		return journal.Key{}, fmt.Errorf("key: %w", ErrCorrupt)
	}
	k := journal.Key{Key: d.string(), Last: last}
	if len(d.b) >= 8 {
		k.Hash = binary.LittleEndian.Uint64(d.b)
		d.b = d.b[8:]
	} else {
		d.fail()
	}
	k.First, k.At = d.uvarint(), d.varint()
	if d.err != nil {
		return journal.Key{}, fmt.Errorf("key: %w", d.err)
	}
	return k, nil
}

// AppendChunk encodes entries with consecutive seqs; the first seq is in the record's key.
func AppendChunk(b []byte, entries []journal.Entry) []byte {
	version := byte(plainChunks)
	if slices.ContainsFunc(entries, func(e journal.Entry) bool { return e.Attrs != nil }) {
		version = chunkVersion
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendVarint(b, e.TimeUnixNano)
		b = append(b, byte(e.Level), boolByte(e.Finished))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Progress))
		b = binary.AppendUvarint(b, uint64(len(e.Message)))
		b = append(b, e.Message...)
		if version == chunkVersion {
			b = appendAttrs(b, e.Attrs)
		}
	}
	return b
}

// DecodeChunk calls fn with each entry of a chunk whose first seq is first, in order,
// until fn returns false.
//
// With owned, b is a copy that nobody writes again (a read's page): the entries' strings
// are cut from it instead of copied one by one, so a walk over a long log allocates
// nothing per message, and an entry kept past fn keeps its whole chunk reachable.
func DecodeChunk(b []byte, first uint64, owned bool, fn func(journal.Entry) bool) error {
	d := decoder{b: b}
	if owned && len(b) > 0 {
		d.text = unsafe.String(unsafe.SliceData(b), len(b))
	}
	version := d.byte()
	if version < recordVersion || version > chunkVersion {
		return fmt.Errorf("chunk: %w", ErrCorrupt)
	}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := journal.Entry{Seq: first + i, TimeUnixNano: d.varint(), Level: v1.Level(d.byte())}
		e.Finished = d.byte() == 1
		e.Progress = d.float()
		e.Message = d.string()
		if version == keyedChunks && d.string() != "" {
			d.uvarint() // the key's first seq: the keys of version 2 are not carried over
		}
		if version >= chunkVersion {
			e.Attrs = d.attrs()
		}
		if d.err == nil && !fn(e) {
			return nil
		}
	}
	if d.err != nil {
		return fmt.Errorf("chunk: %w", d.err)
	}
	return nil
}

// Newest collects a task's newest entries from its chunks, newest chunk first, for Load.
type Newest struct {
	Size   int
	chunks [][]journal.Entry // newest first
	have   int
}

// Full reports whether the window holds size entries.
func (w *Newest) Full() bool { return w.have >= w.Size }

// Add decodes the next older chunk.
func (w *Newest) Add(b []byte, first uint64) error {
	var entries []journal.Entry
	if err := DecodeChunk(b, first, false, func(e journal.Entry) bool { entries = append(entries, e); return true }); err != nil {
		return err
	}
	w.chunks = append(w.chunks, entries)
	w.have += len(entries)
	return nil
}

// Entries returns the newest Size entries, oldest first.
func (w *Newest) Entries() []journal.Entry {
	recent := make([]journal.Entry, 0, min(w.have, w.Size))
	for i := len(w.chunks) - 1; i >= 0; i-- {
		recent = append(recent, w.chunks[i]...)
	}
	if len(recent) > w.Size {
		recent = recent[len(recent)-w.Size:]
	}
	return recent
}

// ReadChunk is a Read's step over one chunk: it calls fn with the chunk's entries from seq
// from on and reports whether fn wants more. b is a page's own copy (Chunk).
func ReadChunk(b []byte, first, from uint64, fn func(journal.Entry) bool) (more bool, err error) {
	more = true
	err = DecodeChunk(b, first, true, func(e journal.Entry) bool {
		if e.Seq < from {
			return true
		}
		more = fn(e)
		return more
	})
	return more, err
}

// ChunkLen returns how many entries a chunk holds.
func ChunkLen(b []byte) (uint64, error) {
	d := decoder{b: b}
	if v := d.byte(); v < recordVersion || v > chunkVersion {
		return 0, fmt.Errorf("chunk: %w", ErrCorrupt)
	}
	n := d.uvarint()
	return n, d.err
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads a record; the first failure sticks in err and later reads return zeros.
type decoder struct {
	b    []byte
	text string // when set, the whole record as a string: strings are cut from it
	err  error
}

func (d *decoder) fail() { d.err, d.b = ErrCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail()
		return ""
	}
	var s string
	if d.text != "" {
		at := len(d.text) - len(d.b)
		s = d.text[at : at+int(n)]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

// appendAttrs encodes a chunk entry's attributes: a flags byte, then the stream and the
// producer's time when there are.
func appendAttrs(b []byte, a *v1.LineAttrs) []byte {
	if a == nil {
		return append(b, 0)
	}
	flags := byte(a.Section&3) << 3
	if a.Stream != "" {
		flags |= attrStream
	}
	if a.Update {
		flags |= attrUpdate
	}
	if a.ProducedUnixNano != 0 {
		flags |= attrProduced
	}
	b = append(b, flags)
	if a.Stream != "" {
		b = binary.AppendUvarint(b, uint64(len(a.Stream)))
		b = append(b, a.Stream...)
	}
	if a.ProducedUnixNano != 0 {
		b = binary.AppendVarint(b, a.ProducedUnixNano)
	}
	return b
}

// attrs decodes what appendAttrs wrote; nil for a plain message.
func (d *decoder) attrs() *v1.LineAttrs {
	flags := d.byte()
	if flags == 0 {
		return nil
	}
	a := &v1.LineAttrs{Update: flags&attrUpdate != 0, Section: v1.Section(flags & attrSection >> 3)}
	if flags&attrStream != 0 {
		a.Stream = d.string()
	}
	if flags&attrProduced != 0 {
		a.ProducedUnixNano = d.varint()
	}
	return a
}
