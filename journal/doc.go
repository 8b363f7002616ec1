// Package journal keeps tasks' log entries and meta on disk, so that nothing acknowledged
// is lost on a restart, a deploy or a crash (docs/design.md, "Durability").
//
// A Journal stores a task's entries of one commit as chunks of consecutive entries (of at
// most 64 KiB each) and the task's meta beside them, written in the same atomic write.
// Reads of entries go a page at a time (record.ReadPaged), so a slow reader holds neither
// an iterator nor a connection. Each backend is a package of its own behind the Journal
// interface: journal/pebble is the embedded one (one directory), journal/postgres the one
// cluster members share, and journal/backends opens either by name; journaltest has an
// in-memory one with failure injection for tests. This package links none of them.
// Without a journal, tasks live in memory only.
//
// # Group commit and ordering
//
// A Writer owns the journal's one committing goroutine. Submit never blocks: requests of
// every task collect in a lock-free queue while a commit is in progress, and the next
// commit takes all of them (up to a count and a byte bound) in one write with one sync.
// Requests are carried out in the order they were submitted, loads and deletes included,
// so a task loaded after a delete was submitted sees the delete. Each request's done
// function is called once, from the Writer's goroutine, after its write is durable or has
// failed; it must not block (tasks send themselves a message).
package journal
