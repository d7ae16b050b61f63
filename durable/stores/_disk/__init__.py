"""The disk store: one append-only journal per instance in one folder.

Modules: `_names` (the file-name encoding of ids), `_journal` (the record format and its
parsing: pure functions over bytes), `_files` (locking, fsync, atomic writes, reads) and
`_store` (`DiskStateStore`).

Layout
======

Everything lives directly inside one folder (``store.path``); names are built only from the
encoding below, so no id can name a path outside that folder::

    <path>/
      i_<enc>.log               the journal of the instance whose id encodes to <enc>:
                                its checkpoints and its event inbox, appended to
      i_<enc>.lock              locked by every writer of that journal
      i_<enc>.history           its audit history: one "<crc32 hex> <entry>" line per entry
      h_<sha256>.log|lock|history   the same for an id whose <enc> would be too long
      .tmp-*.tmp                temporary files of journal creations and rewrites in progress
                                (or of a crash)

``<enc>`` keeps the bytes ``[a-z0-9_-]`` of the id's UTF-8 encoding and writes every other
byte as ``%XX`` with uppercase hex: injective even on case-insensitive file systems (see
`_names`). The fixed prefixes make ``""``, ``"."``, ``".."`` and Windows device names
harmless. When ``<enc>`` exceeds 180 characters the name is ``h_`` plus the SHA-256 hex digest
of the id's bytes; the id is then known only from the journal's head.

The journal is a sequence of framed records (kind, length, CRC-32 before and after each
payload; `_journal` has the formats). The first record is a *head* naming the instance and
holding a random nonce new to that file. Then, in the order written: ``N`` an event was
published (its id, its name, its data and audit entries); ``C`` a checkpoint (the instance
header, the snapshot, the ids of the events it consumed, its audit entries); ``D`` events
were deleted. The state is the last checkpoint and the events not consumed or deleted since;
the audit history is the history file followed by the entries still in the journal. Journals
of the previous version (``S`` checkpoints without a header, ``E`` events without a name)
still load: their header is None (the compare-and-set then reads ``seq`` from the snapshot)
and an event's name is read from its JSON data when asked for.

Because each ``C`` record carries the header and each ``N`` record the event's name,
``ready()`` decides from headers and inbox names alone and never parses a snapshot.

Atomicity and crash guarantees
==============================

* A journal is *created whole*: its head and first record are written to a temp file,
  fsync-ed, renamed into place and the folder fsync-ed. So no crash can leave an empty or
  headless journal, and one that is has been damaged.
* Every writer holds an exclusive ``flock`` on ``<stem>.lock`` (between processes and between
  threads) and parses the journal first (through the cache: only the bytes appended since
  its store object last looked), so it cuts off a torn tail (a partial last record or one
  failing its CRC) and refuses a damaged journal before it appends. It then caches what it
  wrote, parsed from memory, so its next read reads none of it back. A checkpoint appends
  one ``C`` record and fsyncs; publishing appends one ``N`` and fsyncs; so an event is
  durable when `publish` returns, and a checkpoint's snapshot, header, consumption and audit
  entries land together or not at all.
* A crash mid-append leaves a *torn tail*, and only there: at most one partial record after
  the last whole one (bytes that begin one well-formed record), or a last whole-framed record
  failing its CRC. Readers ignore it (that append never returned) and the next writer cuts it
  off. Everything else (an empty file, garbage, a damaged head or record before the end, a
  record cut short with whole ones after it, a head naming another instance) raises
  `StoreError` naming the instance and the file, for readers and writers alike, and the file
  is left untouched for a person to look at: no damage reads as a restart from scratch or a
  rollback of acknowledged checkpoints.
* Superseded ``C`` records are the retained checkpoints (`StateStore.checkpoints`): the last
  ``keep_checkpoints`` of them count as live, and a rewrite copies them (header and snapshot,
  without their consumed ids and audit entries) before the live events.
* A save *rewrites* the journal instead of appending once superseded records would outweigh
  the live ones and 32 KiB. First the journal's audit entries are appended to the history
  file, which is fsync-ed; then the live records (and the new checkpoint with its entries) go
  to a temp file under a new head, which is fsync-ed, renamed over the journal, and the folder
  fsync-ed. Readers see the old file or the new one. A crash between the two steps leaves the
  entries in both; readers and the next rewrite recognise the copy at the end of the history
  file and skip it.
* Readers take no lock. Each store object caches parsed journals and, on the next read,
  parses only the bytes appended since; an entry is used only while the file still starts
  with the same head, so a rewrite (even one reusing the inode) is always noticed.
* Entries given to `StateStore.append_history` directly are appended to the history file
  with ``O_APPEND`` in one ``write``, without ``fsync`` (they survive a process crash; a power
  failure may lose the last ones). A crash mid-append leaves a torn line; reads skip any line
  whose CRC does not match, and an append first terminates a torn last line.
* `DiskStateStore.delete` holds the instance's lock and unlinks the journal first, then
  fsyncs the folder: from then on (even after a power loss) the instance reads as never
  saved. Then it unlinks the history file and the lock file (which holds the lease) and
  fsyncs the folder again. A crash in between leaves a history or lock file beside no
  journal, which no read takes for an instance; deleting again removes it. Since the lock
  file is unlinked while held, a writer granted the lock checks that the name still leads to
  the file it locked, and starts over on a fresh one if not.
* Every ``OSError`` becomes `StoreError` naming the instance id (if any) and the path, chained.
* `DiskStateStore.list_instances` lists every instance that has a snapshot *or* a damaged
  journal, so tools can show the damaged ones (reading them raises); a damaged
  ``h_<sha256>`` journal whose head is unreadable names no id and is reported only by
  `DiskStateStore.damaged`, with every other damaged journal.

Rejected designs
================

* *A snapshot file replaced by rename, and an inbox folder with one file per event* (this
  store's first layout). Each save and each publish cost two fsyncs (the file and its folder)
  and a resume listed a folder; a pause-publish-resume cycle cost four fsyncs against the
  journal's two, and consumption needed its own deletions.
* *A publisher rewriting a file that holds snapshot and inbox.* Whichever rename lands second
  drops the other's change; appends under a lock cannot.
* *Reading "whole records, then whatever follows is a torn append"* (the previous version).
  Garbage, an emptied file or damage from an early record on then read as an instance that
  never started or as one several checkpoints back, and the next write cut the damaged bytes
  away for good. A crash can only tear the one append in flight, so only that is forgiven.
* *The header inside the snapshot JSON only.* ``ready()`` would parse every snapshot; the
  header beside it in the same record costs a few dozen bytes and no extra write.
* *Rejecting odd ids* (slashes, dots, control characters, case collisions, long ids). Every
  rule would be a place for a caller to trip; the injective encoding accepts every id and
  makes path traversal impossible by construction rather than by validation.
* *Ids as plain file names after sanitising.* Sanitising is lossy ("a/b" and "a_b" collide);
  case-insensitive file systems fold "A" and "a" together.
"""

from __future__ import annotations

from ._store import DiskStateStore

__all__ = ["DiskStateStore"]
