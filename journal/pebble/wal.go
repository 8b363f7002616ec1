package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	pebbledb "github.com/cockroachdb/pebble/v2"
	walrecord "github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// A damaged write-ahead log (pebble v2.1.7, open.go replayWAL): Pebble replays each log
// until its first unreadable record. In the newest log it takes an unreadable record for
// a write torn by a crash and goes on with what came before, logging "stopped reading at
// offset" at Info; only with FormatWALSyncChunks, and only when a later record says the
// damaged one had been synced, does it refuse (ErrCorruption). A log cut short (truncated)
// or damaged near its end is therefore opened without a word, and the tasks whose entries
// were in the lost part would number their next messages with seqs already acknowledged.
//
// checkWALs reads every log with Pebble's own reader before Pebble does, and takes as lost
// any log that stops at a record of its own that it cannot read: bytes of that log follow
// where reading stopped. A recycled log file that ends its records before the old ones
// left in it stops at a record of another log, and an unused preallocated tail is zeros:
// neither counts. A torn last write after a power cut does count: the journal cannot tell
// it from a truncation, and asks (Options.AcceptLoss).

// walDamage is a log that stops before its end.
type walDamage struct {
	file         string
	offset, size int64 // where reading stopped, and the file's size
	err          error
}

// checkWALs returns the logs in dir that stop before their end.
func checkWALs(fs vfs.FS, dir string) ([]walDamage, error) {
	logs, err := wal.Scan(wal.Dir{FS: fs, Dirname: dir})
	if err != nil {
		return nil, err
	}
	var damage []walDamage
	for _, ll := range logs {
		d, err := checkWAL(fs, ll)
		if err != nil {
			return nil, err
		}
		if d != nil {
			damage = append(damage, *d)
		}
	}
	return damage, nil
}

func checkWAL(fs vfs.FS, ll wal.LogicalLog) (*walDamage, error) {
	r := ll.OpenForRead()
	defer r.Close()
	for {
		rec, off, err := r.NextRecord()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, walrecord.ErrUnexpectedEOF) && !errors.Is(err, walrecord.ErrInvalidChunk) &&
			!errors.Is(err, walrecord.ErrZeroedChunk) {
			return nil, err
		}
		file := off.PhysicalFile
		if file == "" {
			_, file = ll.SegmentLocation(0)
		}
		fi, serr := fs.Stat(file)
		if serr != nil {
			return nil, serr
		}
		d := &walDamage{file: file, offset: off.Physical, size: fi.Size(), err: err}
		if errors.Is(err, walrecord.ErrUnexpectedEOF) {
			own, err := ownRecordAt(fs, file, off.Physical, uint32(ll.Num))
			if err != nil || !own {
				return nil, err
			}
		}
		return d, nil
	}
}

// ownRecordAt reports whether a record of log logNum starts at offset in file: the chunk
// header there (pebble/record's recyclable and WAL-sync formats: checksum 4, length 2,
// type 1, log number 4) names it, or the file ends inside the header with bytes that are
// not zeros. Zeros (a preallocated or padded tail) and another log's chunks are not.
func ownRecordAt(fs vfs.FS, file string, offset int64, logNum uint32) (bool, error) {
	f, err := fs.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [11]byte
	n, err := f.ReadAt(hdr[:], offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	zeros := true
	for _, b := range hdr[:n] {
		zeros = zeros && b == 0
	}
	switch {
	case zeros:
		return false, nil
	case n < len(hdr):
		return true, nil
	}
	const firstRecyclable, lastWALSync = 5, 12 // chunk types that carry a log number
	if typ := hdr[6]; typ < firstRecyclable || typ > lastWALSync {
		return true, nil // a legacy or unknown chunk: not readable, so not vouched for
	}
	return binary.LittleEndian.Uint32(hdr[7:11]) == logNum, nil
}

// newEpochsPending names the marker of a journal opened without the damaged part of its
// log whose tasks have not all been given their new epoch yet.
const newEpochsPending = "NEW_EPOCHS_PENDING"

// touchSynced creates the empty file name and syncs it and its directory.
func touchSynced(fs vfs.FS, name string) error {
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := fs.OpenDir(fs.PathDir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cutDamaged keeps a copy of each damaged log beside it (name.damaged) and cuts the log
// at its last readable record, so that Pebble opens what came before.
func cutDamaged(fs vfs.FS, damage []walDamage) error {
	for _, d := range damage {
		if err := vfs.CopyAcrossFS(fs, d.file, fs, d.file+".damaged"); err != nil {
			return fmt.Errorf("keep a copy of %s: %w", d.file, err)
		}
		if err := cut(fs, d.file, d.offset); err != nil {
			return fmt.Errorf("cut %s at %d: %w", d.file, d.offset, err)
		}
	}
	return nil
}

// cut shortens the file name to size bytes, synced: in place where the file can be
// truncated (the operating system's), else by writing its first size bytes to a new
// file that replaces it (an in-memory FS in tests).
func cut(fs vfs.FS, name string, size int64) error {
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if t, ok := f.(interface{ Truncate(int64) error }); ok {
		err = t.Truncate(size)
		if e := f.Sync(); err == nil {
			err = e
		}
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	src, err := fs.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := name + ".cut"
	_ = fs.Remove(tmp) // what a cut that failed before left
	dst, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, io.LimitReader(src, size))
	if e := dst.Sync(); err == nil {
		err = e
	}
	if e := dst.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = fs.Rename(tmp, name)
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return err
	}
	dir, err := fs.OpenDir(fs.PathDir(name))
	if err != nil {
		return err
	}
	return errors.Join(dir.Sync(), dir.Close())
}

// newEpochs gives every task a new epoch in one synced batch, keeping LastSeq: entries
// in the lost part of the log may have had seqs the tasks would otherwise number again,
// and a viewer resuming with an old epoch gets a gap instead of other messages under
// numbers it has seen.
func (p *Journal) newEpochs() error {
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: []byte{'m'}, UpperBound: []byte{'n'}})
	if err != nil {
		return err
	}
	b := p.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := record.DecodeMeta(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("task %s: %w", it.Key()[1:], err)
		}
		meta.Epoch = journal.NewEpoch()
		if err := b.Set(it.Key(), record.AppendMeta(nil, meta), nil); err != nil {
			it.Close()
			return err
		}
		n++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if err := b.Commit(pebbledb.Sync); err != nil {
		return err
	}
	p.health.logger.Error("journal: opened without the damaged part of its write-ahead log (--accept-journal-loss): every task starts a new epoch",
		slog.String("component", "journal"), slog.String("dir", p.health.dir), slog.Int("tasks", n))
	return nil
}

// makeDir creates dir 0700; an existing one readable by others is said so.
func makeDir(fs vfs.FS, dir string, logger *slog.Logger) error {
	if err := fs.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("journal directory: %w", err)
	}
	if fi, err := fs.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("journal: the data directory is open to other users; chmod 700 it",
			slog.String("component", "journal"), slog.String("dir", dir), slog.String("mode", fi.Mode().Perm().String()))
	}
	return nil
}
