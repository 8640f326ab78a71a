"""Every Redis key the Redis store uses, in one block: names, hash tags and member formats.

Keys of one function share the hash tag `{fn:NAME}` and keys of one queue `{q:NAME}`, so each
function's or queue's script touches one cluster slot; documents, logs and the event index have
tags of their own. Scripts that find a function from a request id (ack, reschedule, reset) and a
redrive between two queues derive or touch keys of more than one tag: they need a standalone
Redis (or Valkey) server, which is what the store supports today.
"""

from __future__ import annotations

#: Every key starts with this; the Lua scripts that derive keys get it as an argument.
PREFIX = "lamina:"

#: Hash per document kind: key -> value.
DOC = PREFIX + "{docs}:doc:"
#: String per blob: its bytes, under its digest; and a hash digest -> size of every blob.
BLOB = PREFIX + "blob:"
BLOB_SIZES = PREFIX + "blob-sizes"
#: Counter of log event ids (never reused), and a sorted set per log group scored by id whose
#: members are "<id>:<message bytes>:<encoded event>"; the set of groups holding events and a
#: hash group -> UTF-8 bytes of its messages.
LOG_SEQ = PREFIX + "{logs}:seq"
LOG_GROUP = PREFIX + "{logs}:group:"
LOG_GROUPS = PREFIX + "{logs}:groups"
LOG_BYTES = PREFIX + "{logs}:bytes"
#: Hash request id -> function of every queued async event, and the set of functions with events.
EVENT_OWNER = PREFIX + "{events}:owner"
EVENT_FUNCTIONS = PREFIX + "{events}:functions"
#: Counter of message sequence numbers (one sequence for every queue, never reused).
MESSAGE_SEQ = PREFIX + "{queues}:seq"
#: Set of every queue name that was sent a message (for `usage`).
QUEUE_NAMES = PREFIX + "{queues}:names"
#: Concurrency slots held anywhere, as sorted sets of slot ids scored by lease expiry: the
#: account's, the unreserved pool's, and one per function. One tag ({slots}) for all, so one
#: script admits against the function's and the account's counts atomically.
SLOTS_ACCOUNT = PREFIX + "{slots}:account"
SLOTS_UNRESERVED = PREFIX + "{slots}:unreserved"
SLOTS_FUNCTION = PREFIX + "{slots}:fn:"
#: Hash of every function's reserved concurrency (functions without one are absent): what
#: admission reads, written when a reservation changes through any node.
SLOTS_RESERVED = PREFIX + "{slots}:reserved"
#: Slots of an event source mapping's batches (MaximumConcurrency across every node).
SLOTS_MAPPING = PREFIX + "{slots}:esm:"
#: Pub/sub channel carrying "function changed" and "events queued" notices between nodes.
NOTICES = PREFIX + "notices"

#: Per-function async-event keys, after `function_prefix(name)` (the Lua scripts use the same).
EVENT_PARTS = ("next", "claims", "nx", "ev", "st", "enq")
#: Per-queue message keys, after `queue_prefix(name)`.
QUEUE_PARTS = ("msg", "vis", "sent", "rc", "fr", "rcpt", "dls", "grp", "ord", "dd", "ddx")


def doc_key(kind: str) -> str:
    return DOC + kind


def blob_key(digest: str) -> str:
    return BLOB + digest


def log_key(group: str) -> str:
    return LOG_GROUP + group


def slot_keys(function: str) -> list[str]:
    """The function's, the unreserved pool's and the account's slot sets."""
    return [SLOTS_FUNCTION + function, SLOTS_UNRESERVED, SLOTS_ACCOUNT]


def function_prefix(function: str) -> str:
    """`lamina:{fn:NAME}:`; ev (request id -> event as enqueued), st (-> attempts, next_at,
    last_error after a reschedule), nx (-> next_at), next (unclaimed events by next_at),
    claims (claimed events by claimed_until), enq (events by enqueued_at)."""
    return f"{PREFIX}{{fn:{function}}}:"


def event_keys(function: str) -> list[str]:
    base = function_prefix(function)
    return [base + part for part in EVENT_PARTS]


def queue_keys(queue: str) -> list[str]:
    """Per message: msg (seq -> message as sent), vis (seqs by visible_at), sent (seqs by
    sent_at), rc (receive count), fr (first receive ms), rcpt (newest receipt), dls (redriven
    from), grp (message group id), ord (seqs by seq, for FIFO order). Per queue: dd (FIFO
    deduplication key -> "message id:seq:expiry ms") and ddx (its keys by expiry)."""
    base = f"{PREFIX}{{q:{queue}}}:"
    return [base + part for part in QUEUE_PARTS]


def seq_member(seq: int) -> str:
    """A message seq as a sorted-set member: zero-padded, so ties sort by number."""
    return f"{seq:016d}"
