"""Decapod client for Python: one file, standard library only, Python 3.9+.

    from decapod_client import connect, ConflictError

    client = connect()                       # finds this project's server, or starts one
    with client.lease("my-agent", ttl_ms=30_000) as lease:   # renewed in the background
        try:
            claim = client.claim_acquire(lease=lease.lease, paths=["src/parser"])["claim"]
        except ConflictError as err:
            print("held by", err.data["conflicts"][0]["agent"])

Discovery works like the TypeScript launcher: read ``<root>/.decapod/run/server.json``, check that
``GET /healthz`` answers as that same instance for that root, and otherwise run the ``decapod`` CLI
(``DECAPOD_BIN``, else ``decapod`` on ``PATH``) as ``decapod env --root ROOT``, which starts a server
and waits until it is healthy. ``DECAPOD_NO_SPAWN=1`` makes the client fail instead. The root
defaults to the enclosing git repository's main worktree, else the current folder.

Calls go over one keep-alive ``http.client`` connection per thread, never through a proxy. A call
that fails because the server went away is retried once after reconnecting (and respawning);
audited mutations carry an ``idempotency_key`` (added here when missing), so a retry never applies
twice. Errors raise a ``DecapodError`` subclass named after ``error.data.code``.

The block between the GENERATED markers is written by ``scripts/generate-python-types.mjs`` from
``openapi/openapi.json``; everything else is written by hand.
"""

from __future__ import annotations

import collections
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, ClassVar, Dict, List, Literal, Mapping, Optional, Tuple, Type, TypedDict, Union, overload
from urllib.parse import urlsplit

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL",
    "METHODS",
    "DEFAULT_KEEP_RECEIPTS",
    "Client",
    "EphemeralClient",
    "LeaseKeeper",
    "connect",
    "start_ephemeral",
    "project_root",
    "find_server",
    "ensure_server",
    "DecapodError",
    "ERROR_CLASSES",
    "LaunchError",
    "TransportError",
    "LeaseLostError",
    "ParseError",
    "InvalidRequestError",
    "MethodNotFoundError",
    "InvalidParamsError",
    "InternalError",
    "LeaseInvalidError",
    "NotFoundError",
    "ConflictError",
    "NotHolderError",
    "FencedOutError",
    "ProofRequiredError",
    "InvalidStateError",
    "ProofNotAllowedError",
    "OutOfBoundsError",
    "BusyError",
    "VersionMismatchError",
    "ShuttingDownError",
    "UnavailableError",
]


# ---------------------------------------------------------------------------------------------
# Errors: one class per name in the server's error table (src/errors.ts), plus the client's own.
# ---------------------------------------------------------------------------------------------


class DecapodError(Exception):
    """An error from Decapod: ``code`` (JSON-RPC code), ``name`` (``error.data.code``), ``message``
    and ``data`` (what a caller needs to act: who holds it, until when, what to call next)."""

    CODE: ClassVar[Optional[int]] = None
    NAME: ClassVar[str] = ""

    def __init__(
        self,
        code: Optional[int] = None,
        name: Optional[str] = None,
        message: str = "",
        data: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.code: Optional[int] = code if code is not None else type(self).CODE
        self.name: str = name if name is not None else type(self).NAME
        self.message: str = message
        self.data: Dict[str, Any] = dict(data or {})

    def __str__(self) -> str:
        code = "" if self.code is None else " {}".format(self.code)
        return "{}{}: {}".format(self.name or type(self).__name__, code, self.message)

    def __repr__(self) -> str:
        return "{}(code={!r}, name={!r}, message={!r}, data={!r})".format(
            type(self).__name__, self.code, self.name, self.message, self.data
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.name, self.message, self.data))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON-RPC error object."""
        return {"code": self.code, "message": self.message, "data": self.data}


class ParseError(DecapodError):
    CODE, NAME = -32700, "PARSE_ERROR"


class InvalidRequestError(DecapodError):
    CODE, NAME = -32600, "INVALID_REQUEST"


class MethodNotFoundError(DecapodError):
    CODE, NAME = -32601, "METHOD_NOT_FOUND"


class InvalidParamsError(DecapodError):
    """data['field'] names the bad field; nothing was changed."""

    CODE, NAME = -32602, "INVALID_PARAMS"


class InternalError(DecapodError):
    CODE, NAME = -32603, "INTERNAL_ERROR"


class LeaseInvalidError(DecapodError):
    """Unknown, revoked or expired lease: data['reason']."""

    CODE, NAME = 1001, "LEASE_INVALID"


class NotFoundError(DecapodError):
    """data['kind'] and data['id'] name what is missing."""

    CODE, NAME = 1002, "NOT_FOUND"


class ConflictError(DecapodError):
    """Held by another: data['conflicts'] = [{resource, claim_id, agent, mode, ttl_remaining_ms}]."""

    CODE, NAME = 1003, "CONFLICT"


class NotHolderError(DecapodError):
    """A claim or task held by another lease: data['holder']."""

    CODE, NAME = 1004, "NOT_HOLDER"


class FencedOutError(DecapodError):
    """The fence is no longer current: data['current_fence']. Stop writing and re-claim."""

    CODE, NAME = 1005, "FENCED_OUT"


class ProofRequiredError(DecapodError):
    """Completion without passing, fresh proofs: data['blocked_by'] = [{gate, reason}]."""

    CODE, NAME = 1006, "PROOF_REQUIRED"


class InvalidStateError(DecapodError):
    """Transition not allowed: data['from'], data['to']."""

    CODE, NAME = 1007, "INVALID_STATE"


class ProofNotAllowedError(DecapodError):
    """The gate accepts only server-run proofs: data['gate']."""

    CODE, NAME = 1008, "PROOF_NOT_ALLOWED"


class OutOfBoundsError(DecapodError):
    """Changes or claims outside the claim's paths, or on forbidden paths: data['files']."""

    CODE, NAME = 1009, "OUT_OF_BOUNDS"


class BusyError(DecapodError):
    """Storage lock not obtained in time; safe to retry after data['retry_after_ms']."""

    CODE, NAME = -32001, "BUSY"


class VersionMismatchError(DecapodError):
    """Client and server protocols differ: data['client'], data['server']."""

    CODE, NAME = -32002, "VERSION_MISMATCH"


class ShuttingDownError(DecapodError):
    """The server is stopping; the client reconnects and retries once by itself."""

    CODE, NAME = -32003, "SHUTTING_DOWN"


class UnavailableError(DecapodError):
    """The store takes no writes now, and nothing was changed: data['reason'] says why (disk_full:
    data['path'] and data['mount'] name the file system). Free space, then retry after
    data['retry_after_ms']. Queries still answer."""

    CODE, NAME = -32004, "UNAVAILABLE"


class LeaseLostError(LeaseInvalidError):
    """A LeaseKeeper's lease was lost (expired or revoked) while it was held: data['reason']."""


class LaunchError(DecapodError):
    """No server could be found or started. name is NO_SERVER (DECAPOD_NO_SPAWN=1, or spawning
    disabled) or START_FAILED (data['log'] names the server log when there is one)."""

    NAME = "START_FAILED"


class TransportError(DecapodError):
    """The server could not be reached, or answered something that is not JSON-RPC."""

    NAME = "TRANSPORT"


#: Every error name of the server's table -> its class.
ERROR_CLASSES: Dict[str, Type[DecapodError]] = {
    cls.NAME: cls
    for cls in (
        ParseError,
        InvalidRequestError,
        MethodNotFoundError,
        InvalidParamsError,
        InternalError,
        LeaseInvalidError,
        NotFoundError,
        ConflictError,
        NotHolderError,
        FencedOutError,
        ProofRequiredError,
        InvalidStateError,
        ProofNotAllowedError,
        OutOfBoundsError,
        BusyError,
        VersionMismatchError,
        ShuttingDownError,
        UnavailableError,
    )
}
_ERRORS_BY_CODE: Dict[int, Type[DecapodError]] = {cls.CODE: cls for cls in ERROR_CLASSES.values() if cls.CODE is not None}


def _error_from(obj: Any) -> DecapodError:
    """A DecapodError subclass for a JSON-RPC error object: by data.code, else by code."""
    if not isinstance(obj, dict):
        return TransportError(None, None, "malformed error object: {!r}".format(obj))
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    code = obj.get("code") if isinstance(obj.get("code"), int) else None
    name = data.get("code") if isinstance(data.get("code"), str) else None
    cls = ERROR_CLASSES.get(name or "") or (_ERRORS_BY_CODE.get(code) if code is not None else None) or DecapodError
    return cls(code, name or cls.NAME or None, str(obj.get("message", "")), data)


# ---------------------------------------------------------------------------------------------
# Helpers the generated block uses
# ---------------------------------------------------------------------------------------------


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


#: Default of optional parameters that may be null: "leave the key out".
OMIT: Any = _Omit()


def _params(values: Dict[str, Any], keep_none: tuple = ()) -> Dict[str, Any]:
    """The params object: optional arguments left at their default are left out."""
    return {k: v for k, v in values.items() if v is not OMIT and (v is not None or k in keep_none)}


class MethodInfo(TypedDict):
    kind: Literal["query", "mutation"]
    audited: bool
    lease: Literal["required", "optional", "none"]
    summary: str


# --- BEGIN GENERATED TYPES ---
# Generated by scripts/generate-python-types.mjs from openapi/openapi.json: do not edit by hand.
# test/contract/python-types-drift.test.ts fails when this block is stale.

PROTOCOL = 1
SCHEMA_VERSION = "0.1.0"


class RpcDiscoverParams(TypedDict):
    pass


class RpcDiscoverResult(TypedDict):
    openrpc: str
    info: Dict[str, Any]
    methods: List[Dict[str, Any]]


class ServerStatusParams(TypedDict):
    pass


class ServerStatusResultStorage(TypedDict):
    engine: str
    journal_mode: str
    # full: an acknowledged write survives power loss; normal: only process crashes
    synchronous: Literal["off", "normal", "full", "extra"]


class ServerStatusResultCounts(TypedDict):
    events: int
    leases_active: int
    leases_revoked: int
    leases_expired: int
    claims_active: int
    tasks_open: int
    tasks_done: int
    tasks_cancelled: int


class ServerStatusResult(TypedDict):
    version: str
    protocol: int
    pid: int
    root: str
    instance_id: str
    started_at: str
    uptime_ms: int
    idle_timeout_ms: int
    schema_version: int
    storage: ServerStatusResultStorage
    counts: ServerStatusResultCounts


class ServerShutdownParams(TypedDict):
    pass


class ServerShutdownResult(TypedDict):
    ok: bool


class _LeaseGrantParamsRequired(TypedDict):
    # who acts: a free-form agent name
    agent: str


class LeaseGrantParams(_LeaseGrantParamsRequired, total=False):
    # milliseconds, 1000…86400000
    ttl_ms: int
    # a same-host process whose exit ends the lease
    pid: int
    # free-form, stored and audited
    meta: Dict[str, Any]
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class Receipt(TypedDict):
    # sequence number of the last audit event written
    seq: int
    # hash of that event
    hash: str
    # the method name
    op: str
    at: str
    # sha256 of the canonical params, secrets removed
    inputs_hash: str
    # sha256 of the canonical result, receipt removed
    outputs_hash: str


class LeaseGrantResult(TypedDict):
    # secret: send it as `lease`; stored only hashed
    lease: str
    # public id
    lease_id: str
    agent: str
    ttl_ms: int
    ttl_remaining_ms: int
    expires_at: str
    receipt: Receipt


class LeaseRenewParams(TypedDict):
    # the secret lease string from lease.grant
    lease: str


class LeaseRenewResult(TypedDict):
    lease_id: str
    ttl_remaining_ms: int
    expires_at: str


class _LeaseRevokeParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str


class LeaseRevokeParams(_LeaseRevokeParamsRequired, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class LeaseRevokeResult(TypedDict):
    # claim ids released
    released: List[str]
    receipt: Receipt


class LeaseListParams(TypedDict):
    pass


class Lease(TypedDict):
    lease_id: str
    agent: str
    state: Literal["active", "revoked", "expired"]
    granted_at: str
    expires_at: str
    ttl_ms: int
    ttl_remaining_ms: int
    claims: List[str]


class LeaseListResult(TypedDict):
    leases: List[Lease]


class _TaskCreateParamsRequired(TypedDict):
    title: str


class TaskCreateParams(_TaskCreateParamsRequired, total=False):
    # the secret lease string from lease.grant
    lease: str
    description: str
    # 0 = highest … 4; default 2
    priority: int
    labels: List[str]
    depends_on: List[str]
    # the paths the task will touch; claimed with it
    paths: List[str]
    # the proof plan: gate names from .decapod/config.json
    gates: List[str]
    # acceptance criteria: what must be true when the task is done, in order
    acceptance: List[str]
    # a task id such as T12
    parent: str
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class TaskHolder(TypedDict):
    agent: str
    lease_id: str
    claim_id: str
    fence: int


class Task(TypedDict):
    id: str
    title: str
    description: str
    status: Literal["open", "done", "cancelled"]
    priority: int
    labels: List[str]
    depends_on: List[str]
    paths: List[str]
    gates: List[str]
    # acceptance criteria, in the order written
    acceptance: List[str]
    parent: Optional[str]
    created_at: str
    updated_at: str
    completed_at: Optional[str]
    verified: Optional[bool]
    holder: Optional[TaskHolder]


class TaskCreateResult(TypedDict):
    task: Task
    receipt: Receipt


class TaskGetParams(TypedDict):
    # a task id such as T12
    task: str


class TaskGetResult(TypedDict):
    task: Task


class TaskListParams(TypedDict, total=False):
    status: Literal["open", "done", "cancelled"]
    label: str
    # who acts: a free-form agent name
    agent: str
    ready: bool
    limit: int
    cursor: str


class TaskListResult(TypedDict):
    tasks: List[Task]
    next_cursor: Optional[str]


class _TaskUpdateParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str


class TaskUpdateParams(_TaskUpdateParamsRequired, total=False):
    title: str
    description: str
    # 0 = highest … 4; default 2
    priority: int
    labels: List[str]
    depends_on: List[str]
    # the paths the task will touch; claimed with it
    paths: List[str]
    # the proof plan: gate names from .decapod/config.json
    gates: List[str]
    # acceptance criteria: what must be true when the task is done, in order
    acceptance: List[str]
    # a task id such as T12
    parent: str
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class TaskUpdateResult(TypedDict):
    task: Task
    receipt: Receipt


class _TaskClaimParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str


class TaskClaimParams(_TaskClaimParamsRequired, total=False):
    # a task id such as T12
    task: str
    # milliseconds, 1000…86400000
    ttl_ms: int
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class Claim(TypedDict):
    id: str
    lease_id: str
    agent: str
    task: Optional[str]
    paths: List[str]
    mode: Literal["exclusive", "shared"]
    # only grows; pass it to release, prove and complete
    fence: int
    state: Literal["active", "released", "expired"]
    acquired_at: str
    expires_at: str
    ttl_remaining_ms: int


class TaskClaimResult(TypedDict):
    task: Task
    claim: Claim
    receipt: Receipt


class _TaskCompleteParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str
    fence: int


class TaskCompleteParams(_TaskCompleteParamsRequired, total=False):
    summary: str
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class TaskCompleteResult(TypedDict):
    task: Task
    receipt: Receipt


class _TaskCancelParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str
    reason: str


class TaskCancelParams(_TaskCancelParamsRequired, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class TaskCancelResult(TypedDict):
    task: Task
    receipt: Receipt


class _TaskReopenParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str
    reason: str


class TaskReopenParams(_TaskReopenParamsRequired, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class TaskReopenResult(TypedDict):
    task: Task
    receipt: Receipt


class _ClaimAcquireParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # paths relative to the root: files, folders (contain everything under them) or globs
    paths: List[str]


class ClaimAcquireParams(_ClaimAcquireParamsRequired, total=False):
    mode: Literal["exclusive", "shared"]
    # milliseconds, 1000…86400000
    ttl_ms: int
    reason: str
    # wait this long for the paths to come free
    wait_ms: int
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class ClaimAcquireResult(TypedDict):
    claim: Claim
    receipt: Receipt


class _ClaimRenewParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    claim: str


class ClaimRenewParams(_ClaimRenewParamsRequired, total=False):
    fence: int


class ClaimRenewResult(TypedDict):
    claim: Claim


class _ClaimReleaseParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    claim: str
    fence: int


class ClaimReleaseParams(_ClaimReleaseParamsRequired, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class ClaimReleaseResult(TypedDict):
    claim: Claim
    receipt: Receipt


class ClaimListParams(TypedDict, total=False):
    # who acts: a free-form agent name
    agent: str
    # a task id such as T12
    task: str
    path: str


class ClaimListResult(TypedDict):
    claims: List[Claim]


class _ClaimCheckParamsRequired(TypedDict):
    # paths relative to the root: files, folders (contain everything under them) or globs
    paths: List[str]


class ClaimCheckParams(_ClaimCheckParamsRequired, total=False):
    # the secret lease string from lease.grant
    lease: str


class ClaimCheckResultPathsItemHoldersItem(TypedDict):
    claim_id: str
    agent: str
    mode: Literal["exclusive", "shared"]
    ttl_remaining_ms: int


class ClaimCheckResultPathsItem(TypedDict):
    path: str
    free: bool
    holders: List[ClaimCheckResultPathsItemHoldersItem]


class ClaimCheckResult(TypedDict):
    paths: List[ClaimCheckResultPathsItem]


class ClaimValidateParams(TypedDict):
    claim: str
    fence: int


class _ClaimValidateResultRequired(TypedDict):
    valid: bool


class ClaimValidateResult(_ClaimValidateResultRequired, total=False):
    reason: str
    current_fence: Optional[int]


class GateListParams(TypedDict):
    pass


class GateListResultGatesItem(TypedDict):
    name: str
    command: str
    timeout_ms: int
    attest: Literal["server", "any"]
    output_cap_bytes: int
    description: str
    # globs the gate reads beyond the task’s paths; its proofs’ digests cover them
    inputs: List[str]


class GateListResult(TypedDict):
    gates: List[GateListResultGatesItem]
    config_file: str
    # why the file was rejected; the last good config keeps serving
    config_error: Optional[str]


class _ProofRunParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str
    gate: str
    fence: int


class ProofRunParams(_ProofRunParamsRequired, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class Proof(TypedDict):
    id: str
    task: str
    gate: str
    claim_id: str
    fence: int
    passed: bool
    exit_code: Optional[int]
    timed_out: bool
    duration_ms: int
    # what the server ran; null when agent-attested
    command: Optional[str]
    output_sha256: str
    output_bytes: int
    truncated: bool
    # content digest of the task’s paths and the gate’s inputs when the run started
    digest: str
    # false when covered files were written while the gate ran: the proof then vouches for nothing
    counts: bool
    # the covered files written while the gate ran ([] when it counts)
    changed_during_run: List[str]
    attested_by: Literal["server", "agent"]
    agent: str
    created_at: str
    hash: str


class ProofRunResult(TypedDict):
    proof: Proof
    output_path: str
    receipt: Receipt


class _ProofRecordParamsRequired(TypedDict):
    # the secret lease string from lease.grant
    lease: str
    # a task id such as T12
    task: str
    gate: str
    fence: int
    passed: bool


class ProofRecordParams(_ProofRecordParamsRequired, total=False):
    exit_code: int
    # kept up to the gate’s output cap; request bodies are limited to 1 MiB
    output: str
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class ProofRecordResult(TypedDict):
    proof: Proof
    receipt: Receipt


class ProofListParams(TypedDict):
    # a task id such as T12
    task: str


class ProofListResult(TypedDict):
    proofs: List[Proof]


class ProofGetParams(TypedDict):
    # a proof id such as P3
    proof: str


class ProofGetResult(TypedDict):
    proof: Proof
    # the captured stdout+stderr; read it with e.g. `tail -n 50 <path>`
    output_path: str
    # the last 4 KiB of the output, as UTF-8
    output_tail: str


class ProofVerifyParams(TypedDict):
    # a proof id such as P3
    proof: str


class ProofVerifyResult(TypedDict):
    ok: bool
    problems: List[str]


class AuditListParams(TypedDict, total=False):
    # return events with seq > since
    since: int
    limit: int
    # only events about this task
    task: str
    agent: str


class Event(TypedDict):
    seq: int
    at: str
    type: str
    agent: Optional[str]
    subject: Optional[str]
    # null when the payload was erased
    data: Optional[Dict[str, Any]]
    prev_hash: str
    hash: str


class AuditListResult(TypedDict):
    events: List[Event]
    # pass as `since` for the next page; null at the end
    next: Optional[int]


# the seq and hash of a receipt a caller kept
class AuditVerifyParamsReceiptsItem(TypedDict):
    seq: int
    # sha256, lowercase hex
    hash: str


class AuditVerifyParams(TypedDict, total=False):
    # receipts kept from earlier mutations ({seq, hash}), at most 10000
    receipts: List[AuditVerifyParamsReceiptsItem]


# the log held against the checkpoints on the git ref refs/decapod/audit (docs/design.md §11)
class _AuditVerifyResultCheckpointRequired(TypedDict):
    ref: str
    # false when the log contradicts a checkpoint of the ref, or the ref cannot be read
    ok: bool
    # checkpoints of the ref’s history held against the log
    checked: int


class AuditVerifyResultCheckpoint(_AuditVerifyResultCheckpointRequired, total=False):
    # the newest checkpoint the log contradicts, else the newest one
    commit: str
    seq: int
    hash: str
    # why ok is false
    problem: str
    # why nothing was checked (no checkpoint yet, not a git repository)
    note: str


class _AuditVerifyResultReceiptsContradictedItemRequired(TypedDict):
    seq: int
    hash: str
    # missing: the log has no event seq (rolled back or truncated); different: it has another event there
    problem: Literal["missing", "different"]


class AuditVerifyResultReceiptsContradictedItem(_AuditVerifyResultReceiptsContradictedItemRequired, total=False):
    # the hash the log has at seq
    log_hash: str


# present when receipts were given
class AuditVerifyResultReceipts(TypedDict):
    checked: int
    # in the order given
    contradicted: List[AuditVerifyResultReceiptsContradictedItem]


class _AuditVerifyResultRequired(TypedDict):
    # the chain holds, and no checkpoint and no kept receipt is contradicted
    ok: bool
    count: int
    # hash of the last good event
    head: str
    # events whose payload was erased (not tampering)
    redacted: int
    # the log held against the checkpoints on the git ref refs/decapod/audit (docs/design.md §11)
    checkpoint: AuditVerifyResultCheckpoint


class AuditVerifyResult(_AuditVerifyResultRequired, total=False):
    # the first event of the chain that does not hold
    first_bad_seq: int
    # the first thing that does not hold: the chain, else a checkpoint, else a receipt
    problem: str
    # present when receipts were given
    receipts: AuditVerifyResultReceipts


class AuditReplayParams(TypedDict):
    pass


class AuditReplayResultFirstDifference(TypedDict):
    table: str
    # index in key order
    row: int
    live: Optional[Dict[str, Any]]
    replay: Optional[Dict[str, Any]]


# the log held against the checkpoints on the git ref refs/decapod/audit (docs/design.md §11)
class _AuditReplayResultChainCheckpointRequired(TypedDict):
    ref: str
    # false when the log contradicts a checkpoint of the ref, or the ref cannot be read
    ok: bool
    # checkpoints of the ref’s history held against the log
    checked: int


class AuditReplayResultChainCheckpoint(_AuditReplayResultChainCheckpointRequired, total=False):
    # the newest checkpoint the log contradicts, else the newest one
    commit: str
    seq: int
    hash: str
    # why ok is false
    problem: str
    # why nothing was checked (no checkpoint yet, not a git repository)
    note: str


# the hash chain and its checkpoints, verified on the way (as audit.verify does)
class _AuditReplayResultChainRequired(TypedDict):
    ok: bool
    # the log held against the checkpoints on the git ref refs/decapod/audit (docs/design.md §11)
    checkpoint: AuditReplayResultChainCheckpoint


class AuditReplayResultChain(_AuditReplayResultChainRequired, total=False):
    first_bad_seq: int
    problem: str


class _AuditReplayResultRequired(TypedDict):
    ok: bool
    # events replayed
    events: int
    live_digest: str
    replay_digest: str
    # the hash chain and its checkpoints, verified on the way (as audit.verify does)
    chain: AuditReplayResultChain


class AuditReplayResult(_AuditReplayResultRequired, total=False):
    first_difference: AuditReplayResultFirstDifference


class AuditCheckpointParams(TypedDict, total=False):
    # a repeat with the same key returns the first result and writes nothing
    idempotency_key: str


class AuditCheckpointResultCheckpoint(TypedDict):
    ref: str
    # the checkpoint commit (push the ref to anchor it remotely)
    commit: str
    # the head recorded: the last event before this call’s own
    seq: int
    hash: str
    # false when the ref already recorded every event but checkpoints: no commit was made
    written: bool


class AuditCheckpointResult(TypedDict):
    checkpoint: AuditCheckpointResultCheckpoint
    receipt: Receipt


# What each method is: "audited" mutations get an idempotency_key from the client so a retry never
# applies twice; "lease" says whether the method takes the secret lease string.
METHODS: Dict[str, MethodInfo] = {
    "rpc.discover": {"kind": "query", "audited": False, "lease": "none", "summary": "The OpenRPC document of this server."},
    "server.status": {"kind": "query", "audited": False, "lease": "none", "summary": "Who serves this root, since when, how long it waits idle, and what the store holds."},
    "server.shutdown": {"kind": "query", "audited": False, "lease": "none", "summary": "Stops the server gracefully after answering: in-flight calls finish first."},
    "lease.grant": {"kind": "mutation", "audited": True, "lease": "none", "summary": "Starts an agent's presence; returns the secret lease string every later call acts with."},
    "lease.renew": {"kind": "mutation", "audited": False, "lease": "required", "summary": "Keeps a lease alive for another ttl_ms. Never revives an expired or revoked lease."},
    "lease.revoke": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Ends a lease now and releases every claim on it."},
    "lease.list": {"kind": "query", "audited": False, "lease": "none", "summary": "Every lease with its state as judged now by the server clock."},
    "task.create": {"kind": "mutation", "audited": True, "lease": "optional", "summary": "Adds a task: a unit of intent with its paths, dependencies and proof plan."},
    "task.get": {"kind": "query", "audited": False, "lease": "none", "summary": "One task, with its holder (agent, lease, claim, fence) while someone works on it."},
    "task.list": {"kind": "query", "audited": False, "lease": "none", "summary": "Tasks by priority then age; `ready` = open, dependencies done, unclaimed. Page with next_cursor."},
    "task.update": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Changes an open task. Only its holder may change a held task; new paths move its claim with them (CONFLICT if another lease holds them)."},
    "task.claim": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Claims a task and its paths atomically; without `task`, the best ready one whose paths are free."},
    "task.complete": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Marks the task done: only its holder, with the current fence, when every gate of its plan has a passing, fresh proof."},
    "task.cancel": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Cancels an open task (releasing its claim). Only its holder may cancel a held task."},
    "task.reopen": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Returns a done or cancelled task to open."},
    "claim.acquire": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Holds paths exclusively or shared, with a new fence. All or nothing; wait_ms queues in arrival order."},
    "claim.renew": {"kind": "mutation", "audited": False, "lease": "required", "summary": "Extends a time-boxed claim by its own ttl_ms (and renews its lease). Refused once the claim is lost."},
    "claim.release": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Gives a claim up. Only its holder, with its current fence."},
    "claim.list": {"kind": "query", "audited": False, "lease": "none", "summary": "Live claims, optionally of one agent, one task, or touching one path."},
    "claim.check": {"kind": "query", "audited": False, "lease": "optional", "summary": "Is each path free of other holders? One answer per path, in request order. What a git hook asks before a commit."},
    "claim.validate": {"kind": "query", "audited": False, "lease": "none", "summary": "Is this fence still current for this claim? For hooks and tools that write on an agent’s behalf."},
    "gate.list": {"kind": "query", "audited": False, "lease": "none", "summary": "The gates of .decapod/config.json (written by people, never over RPC), and any problem with the file."},
    "proof.run": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Decapod runs the gate in the root for the task’s holder, bounded by its timeout, and records the proof."},
    "proof.record": {"kind": "mutation", "audited": True, "lease": "required", "summary": "Records an agent-attested result, for gates whose attest policy allows it (never for attest: server)."},
    "proof.list": {"kind": "query", "audited": False, "lease": "none", "summary": "Every proof of a task, oldest first."},
    "proof.get": {"kind": "query", "audited": False, "lease": "none", "summary": "One proof, where its captured output lives, and the output’s tail."},
    "proof.verify": {"kind": "query", "audited": False, "lease": "none", "summary": "Re-hashes a proof’s artifact and record; reports each mismatch."},
    "audit.list": {"kind": "query", "audited": False, "lease": "none", "summary": "Audit events after `since`, oldest first; page on with `next`."},
    "audit.verify": {"kind": "query", "audited": False, "lease": "none", "summary": "Walks the hash chain and names the first event that does not hold; holds the log to the checkpoints on refs/decapod/audit and to the receipts callers kept, reporting each one it contradicts."},
    "audit.replay": {"kind": "query", "audited": False, "lease": "none", "summary": "Rebuilds the state from the log in a scratch store and compares it with the live state."},
    "audit.checkpoint": {"kind": "mutation", "audited": True, "lease": "none", "summary": "Records the head of the log outside the database, as a commit on the git ref refs/decapod/audit of the project’s repository; refused when the log contradicts the ref’s last checkpoint."},
}


class _GeneratedMethods:
    """One typed method per RPC method (`client.claim_acquire(lease=..., paths=[...])` calls
    claim.acquire), and `call(method, params)` typed per method name."""

    def _call(self, method: str, params: Optional[Mapping[str, Any]]) -> Any:  # pragma: no cover
        raise NotImplementedError

    @overload
    def call(self, method: Literal["rpc.discover"], params: Optional[RpcDiscoverParams] = None) -> RpcDiscoverResult: ...

    @overload
    def call(self, method: Literal["server.status"], params: Optional[ServerStatusParams] = None) -> ServerStatusResult: ...

    @overload
    def call(self, method: Literal["server.shutdown"], params: Optional[ServerShutdownParams] = None) -> ServerShutdownResult: ...

    @overload
    def call(self, method: Literal["lease.grant"], params: LeaseGrantParams) -> LeaseGrantResult: ...

    @overload
    def call(self, method: Literal["lease.renew"], params: LeaseRenewParams) -> LeaseRenewResult: ...

    @overload
    def call(self, method: Literal["lease.revoke"], params: LeaseRevokeParams) -> LeaseRevokeResult: ...

    @overload
    def call(self, method: Literal["lease.list"], params: Optional[LeaseListParams] = None) -> LeaseListResult: ...

    @overload
    def call(self, method: Literal["task.create"], params: TaskCreateParams) -> TaskCreateResult: ...

    @overload
    def call(self, method: Literal["task.get"], params: TaskGetParams) -> TaskGetResult: ...

    @overload
    def call(self, method: Literal["task.list"], params: Optional[TaskListParams] = None) -> TaskListResult: ...

    @overload
    def call(self, method: Literal["task.update"], params: TaskUpdateParams) -> TaskUpdateResult: ...

    @overload
    def call(self, method: Literal["task.claim"], params: TaskClaimParams) -> TaskClaimResult: ...

    @overload
    def call(self, method: Literal["task.complete"], params: TaskCompleteParams) -> TaskCompleteResult: ...

    @overload
    def call(self, method: Literal["task.cancel"], params: TaskCancelParams) -> TaskCancelResult: ...

    @overload
    def call(self, method: Literal["task.reopen"], params: TaskReopenParams) -> TaskReopenResult: ...

    @overload
    def call(self, method: Literal["claim.acquire"], params: ClaimAcquireParams) -> ClaimAcquireResult: ...

    @overload
    def call(self, method: Literal["claim.renew"], params: ClaimRenewParams) -> ClaimRenewResult: ...

    @overload
    def call(self, method: Literal["claim.release"], params: ClaimReleaseParams) -> ClaimReleaseResult: ...

    @overload
    def call(self, method: Literal["claim.list"], params: Optional[ClaimListParams] = None) -> ClaimListResult: ...

    @overload
    def call(self, method: Literal["claim.check"], params: ClaimCheckParams) -> ClaimCheckResult: ...

    @overload
    def call(self, method: Literal["claim.validate"], params: ClaimValidateParams) -> ClaimValidateResult: ...

    @overload
    def call(self, method: Literal["gate.list"], params: Optional[GateListParams] = None) -> GateListResult: ...

    @overload
    def call(self, method: Literal["proof.run"], params: ProofRunParams) -> ProofRunResult: ...

    @overload
    def call(self, method: Literal["proof.record"], params: ProofRecordParams) -> ProofRecordResult: ...

    @overload
    def call(self, method: Literal["proof.list"], params: ProofListParams) -> ProofListResult: ...

    @overload
    def call(self, method: Literal["proof.get"], params: ProofGetParams) -> ProofGetResult: ...

    @overload
    def call(self, method: Literal["proof.verify"], params: ProofVerifyParams) -> ProofVerifyResult: ...

    @overload
    def call(self, method: Literal["audit.list"], params: Optional[AuditListParams] = None) -> AuditListResult: ...

    @overload
    def call(self, method: Literal["audit.verify"], params: Optional[AuditVerifyParams] = None) -> AuditVerifyResult: ...

    @overload
    def call(self, method: Literal["audit.replay"], params: Optional[AuditReplayParams] = None) -> AuditReplayResult: ...

    @overload
    def call(self, method: Literal["audit.checkpoint"], params: Optional[AuditCheckpointParams] = None) -> AuditCheckpointResult: ...

    @overload
    def call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any: ...

    def call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        """Calls any method by name with its params object; returns its result or raises a DecapodError."""
        return self._call(method, params)

    def rpc_discover(self) -> RpcDiscoverResult:
        """rpc.discover: The OpenRPC document of this server."""
        return self._call("rpc.discover", _params({}))

    def server_status(self) -> ServerStatusResult:
        """server.status: Who serves this root, since when, how long it waits idle, and what the store holds."""
        return self._call("server.status", _params({}))

    def server_shutdown(self) -> ServerShutdownResult:
        """server.shutdown: Stops the server gracefully after answering: in-flight calls finish first."""
        return self._call("server.shutdown", _params({}))

    def lease_grant(self, *, agent: str, ttl_ms: Optional[int] = None, pid: Optional[int] = None, meta: Optional[Dict[str, Any]] = None, idempotency_key: Optional[str] = None) -> LeaseGrantResult:
        """lease.grant: Starts an agent's presence; returns the secret lease string every later call acts with.

        agent: who acts: a free-form agent name
        ttl_ms: milliseconds, 1000…86400000
        pid: a same-host process whose exit ends the lease
        meta: free-form, stored and audited
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("lease.grant", _params({"agent": agent, "ttl_ms": ttl_ms, "pid": pid, "meta": meta, "idempotency_key": idempotency_key}))

    def lease_renew(self, *, lease: str) -> LeaseRenewResult:
        """lease.renew: Keeps a lease alive for another ttl_ms. Never revives an expired or revoked lease.

        lease: the secret lease string from lease.grant
        """
        return self._call("lease.renew", _params({"lease": lease}))

    def lease_revoke(self, *, lease: str, idempotency_key: Optional[str] = None) -> LeaseRevokeResult:
        """lease.revoke: Ends a lease now and releases every claim on it.

        lease: the secret lease string from lease.grant
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("lease.revoke", _params({"lease": lease, "idempotency_key": idempotency_key}))

    def lease_list(self) -> LeaseListResult:
        """lease.list: Every lease with its state as judged now by the server clock."""
        return self._call("lease.list", _params({}))

    def task_create(self, *, title: str, lease: Optional[str] = None, description: Optional[str] = None, priority: Optional[int] = None, labels: Optional[List[str]] = None, depends_on: Optional[List[str]] = None, paths: Optional[List[str]] = None, gates: Optional[List[str]] = None, acceptance: Optional[List[str]] = None, parent: Optional[str] = None, idempotency_key: Optional[str] = None) -> TaskCreateResult:
        """task.create: Adds a task: a unit of intent with its paths, dependencies and proof plan.

        lease: the secret lease string from lease.grant
        priority: 0 = highest … 4; default 2
        paths: the paths the task will touch; claimed with it
        gates: the proof plan: gate names from .decapod/config.json
        acceptance: acceptance criteria: what must be true when the task is done, in order
        parent: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.create", _params({"title": title, "lease": lease, "description": description, "priority": priority, "labels": labels, "depends_on": depends_on, "paths": paths, "gates": gates, "acceptance": acceptance, "parent": parent, "idempotency_key": idempotency_key}))

    def task_get(self, *, task: str) -> TaskGetResult:
        """task.get: One task, with its holder (agent, lease, claim, fence) while someone works on it.

        task: a task id such as T12
        """
        return self._call("task.get", _params({"task": task}))

    def task_list(self, *, status: Optional[Literal["open", "done", "cancelled"]] = None, label: Optional[str] = None, agent: Optional[str] = None, ready: Optional[bool] = None, limit: Optional[int] = None, cursor: Optional[str] = None) -> TaskListResult:
        """task.list: Tasks by priority then age; `ready` = open, dependencies done, unclaimed. Page with next_cursor.

        agent: who acts: a free-form agent name
        """
        return self._call("task.list", _params({"status": status, "label": label, "agent": agent, "ready": ready, "limit": limit, "cursor": cursor}))

    def task_update(self, *, lease: str, task: str, title: Optional[str] = None, description: Optional[str] = None, priority: Optional[int] = None, labels: Optional[List[str]] = None, depends_on: Optional[List[str]] = None, paths: Optional[List[str]] = None, gates: Optional[List[str]] = None, acceptance: Optional[List[str]] = None, parent: Optional[str] = None, idempotency_key: Optional[str] = None) -> TaskUpdateResult:
        """task.update: Changes an open task. Only its holder may change a held task; new paths move its claim with them (CONFLICT if another lease holds them).

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        priority: 0 = highest … 4; default 2
        paths: the paths the task will touch; claimed with it
        gates: the proof plan: gate names from .decapod/config.json
        acceptance: acceptance criteria: what must be true when the task is done, in order
        parent: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.update", _params({"lease": lease, "task": task, "title": title, "description": description, "priority": priority, "labels": labels, "depends_on": depends_on, "paths": paths, "gates": gates, "acceptance": acceptance, "parent": parent, "idempotency_key": idempotency_key}))

    def task_claim(self, *, lease: str, task: Optional[str] = None, ttl_ms: Optional[int] = None, idempotency_key: Optional[str] = None) -> TaskClaimResult:
        """task.claim: Claims a task and its paths atomically; without `task`, the best ready one whose paths are free.

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        ttl_ms: milliseconds, 1000…86400000
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.claim", _params({"lease": lease, "task": task, "ttl_ms": ttl_ms, "idempotency_key": idempotency_key}))

    def task_complete(self, *, lease: str, task: str, fence: int, summary: Optional[str] = None, idempotency_key: Optional[str] = None) -> TaskCompleteResult:
        """task.complete: Marks the task done: only its holder, with the current fence, when every gate of its plan has a passing, fresh proof.

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.complete", _params({"lease": lease, "task": task, "fence": fence, "summary": summary, "idempotency_key": idempotency_key}))

    def task_cancel(self, *, lease: str, task: str, reason: str, idempotency_key: Optional[str] = None) -> TaskCancelResult:
        """task.cancel: Cancels an open task (releasing its claim). Only its holder may cancel a held task.

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.cancel", _params({"lease": lease, "task": task, "reason": reason, "idempotency_key": idempotency_key}))

    def task_reopen(self, *, lease: str, task: str, reason: str, idempotency_key: Optional[str] = None) -> TaskReopenResult:
        """task.reopen: Returns a done or cancelled task to open.

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("task.reopen", _params({"lease": lease, "task": task, "reason": reason, "idempotency_key": idempotency_key}))

    def claim_acquire(self, *, lease: str, paths: List[str], mode: Optional[Literal["exclusive", "shared"]] = None, ttl_ms: Optional[int] = None, reason: Optional[str] = None, wait_ms: Optional[int] = None, idempotency_key: Optional[str] = None) -> ClaimAcquireResult:
        """claim.acquire: Holds paths exclusively or shared, with a new fence. All or nothing; wait_ms queues in arrival order.

        lease: the secret lease string from lease.grant
        paths: paths relative to the root: files, folders (contain everything under them) or globs
        ttl_ms: milliseconds, 1000…86400000
        wait_ms: wait this long for the paths to come free
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("claim.acquire", _params({"lease": lease, "paths": paths, "mode": mode, "ttl_ms": ttl_ms, "reason": reason, "wait_ms": wait_ms, "idempotency_key": idempotency_key}))

    def claim_renew(self, *, lease: str, claim: str, fence: Optional[int] = None) -> ClaimRenewResult:
        """claim.renew: Extends a time-boxed claim by its own ttl_ms (and renews its lease). Refused once the claim is lost.

        lease: the secret lease string from lease.grant
        """
        return self._call("claim.renew", _params({"lease": lease, "claim": claim, "fence": fence}))

    def claim_release(self, *, lease: str, claim: str, fence: int, idempotency_key: Optional[str] = None) -> ClaimReleaseResult:
        """claim.release: Gives a claim up. Only its holder, with its current fence.

        lease: the secret lease string from lease.grant
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("claim.release", _params({"lease": lease, "claim": claim, "fence": fence, "idempotency_key": idempotency_key}))

    def claim_list(self, *, agent: Optional[str] = None, task: Optional[str] = None, path: Optional[str] = None) -> ClaimListResult:
        """claim.list: Live claims, optionally of one agent, one task, or touching one path.

        agent: who acts: a free-form agent name
        task: a task id such as T12
        """
        return self._call("claim.list", _params({"agent": agent, "task": task, "path": path}))

    def claim_check(self, *, paths: List[str], lease: Optional[str] = None) -> ClaimCheckResult:
        """claim.check: Is each path free of other holders? One answer per path, in request order. What a git hook asks before a commit.

        paths: paths relative to the root: files, folders (contain everything under them) or globs
        lease: the secret lease string from lease.grant
        """
        return self._call("claim.check", _params({"paths": paths, "lease": lease}))

    def claim_validate(self, *, claim: str, fence: int) -> ClaimValidateResult:
        """claim.validate: Is this fence still current for this claim? For hooks and tools that write on an agent’s behalf."""
        return self._call("claim.validate", _params({"claim": claim, "fence": fence}))

    def gate_list(self) -> GateListResult:
        """gate.list: The gates of .decapod/config.json (written by people, never over RPC), and any problem with the file."""
        return self._call("gate.list", _params({}))

    def proof_run(self, *, lease: str, task: str, gate: str, fence: int, idempotency_key: Optional[str] = None) -> ProofRunResult:
        """proof.run: Decapod runs the gate in the root for the task’s holder, bounded by its timeout, and records the proof.

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("proof.run", _params({"lease": lease, "task": task, "gate": gate, "fence": fence, "idempotency_key": idempotency_key}))

    def proof_record(self, *, lease: str, task: str, gate: str, fence: int, passed: bool, exit_code: Optional[int] = None, output: Optional[str] = None, idempotency_key: Optional[str] = None) -> ProofRecordResult:
        """proof.record: Records an agent-attested result, for gates whose attest policy allows it (never for attest: server).

        lease: the secret lease string from lease.grant
        task: a task id such as T12
        output: kept up to the gate’s output cap; request bodies are limited to 1 MiB
        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("proof.record", _params({"lease": lease, "task": task, "gate": gate, "fence": fence, "passed": passed, "exit_code": exit_code, "output": output, "idempotency_key": idempotency_key}))

    def proof_list(self, *, task: str) -> ProofListResult:
        """proof.list: Every proof of a task, oldest first.

        task: a task id such as T12
        """
        return self._call("proof.list", _params({"task": task}))

    def proof_get(self, *, proof: str) -> ProofGetResult:
        """proof.get: One proof, where its captured output lives, and the output’s tail.

        proof: a proof id such as P3
        """
        return self._call("proof.get", _params({"proof": proof}))

    def proof_verify(self, *, proof: str) -> ProofVerifyResult:
        """proof.verify: Re-hashes a proof’s artifact and record; reports each mismatch.

        proof: a proof id such as P3
        """
        return self._call("proof.verify", _params({"proof": proof}))

    def audit_list(self, *, since: Optional[int] = None, limit: Optional[int] = None, task: Optional[str] = None, agent: Optional[str] = None) -> AuditListResult:
        """audit.list: Audit events after `since`, oldest first; page on with `next`.

        since: return events with seq > since
        task: only events about this task
        """
        return self._call("audit.list", _params({"since": since, "limit": limit, "task": task, "agent": agent}))

    def audit_verify(self, *, receipts: Optional[List[AuditVerifyParamsReceiptsItem]] = None) -> AuditVerifyResult:
        """audit.verify: Walks the hash chain and names the first event that does not hold; holds the log to the checkpoints on refs/decapod/audit and to the receipts callers kept, reporting each one it contradicts.

        receipts: receipts kept from earlier mutations ({seq, hash}), at most 10000
        """
        return self._call("audit.verify", _params({"receipts": receipts}))

    def audit_replay(self) -> AuditReplayResult:
        """audit.replay: Rebuilds the state from the log in a scratch store and compares it with the live state."""
        return self._call("audit.replay", _params({}))

    def audit_checkpoint(self, *, idempotency_key: Optional[str] = None) -> AuditCheckpointResult:
        """audit.checkpoint: Records the head of the log outside the database, as a commit on the git ref refs/decapod/audit of the project’s repository; refused when the log contradicts the ref’s last checkpoint.

        idempotency_key: a repeat with the same key returns the first result and writes nothing
        """
        return self._call("audit.checkpoint", _params({"idempotency_key": idempotency_key}))
# --- END GENERATED TYPES ---


# ---------------------------------------------------------------------------------------------
# Discovery and spawning (the same rules as src/launcher/launcher.ts)
# ---------------------------------------------------------------------------------------------

_HEALTH_TIMEOUT_S = 1.0
_SPAWN_TIMEOUT_S = 60.0  # `decapod env` waits up to 20 s itself (past a killed server's stale lock)
_IDLE_RECONNECT_S = 30.0  # the server keeps idle connections ~72 s; reconnect well before that
DEFAULT_KEEP_RECEIPTS = 1000  # receipts a Client keeps for verify_receipts() (about 300 kB)
_MAX_KEEP_RECEIPTS = 10000  # what audit.verify takes in one call


def project_root(explicit: Optional[str] = None, cwd: Optional[str] = None) -> str:
    """The project root: ``explicit`` (resolved against cwd), else the main worktree of the git
    repository around ``cwd`` (so every worktree shares one server), else ``cwd`` itself."""
    base = cwd or os.getcwd()
    if explicit:
        path = os.path.realpath(os.path.join(base, explicit))
        if not os.path.isdir(path):
            raise FileNotFoundError("decapod root {} is not a folder".format(path))
        return path
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            universal_newlines=True,
            timeout=10,
        )
        common = out.stdout.strip()
        if out.returncode == 0 and os.path.basename(common) == ".git":
            return os.path.realpath(os.path.dirname(common))
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or not a repository: the folder itself
    return os.path.realpath(base)


def _server_json_path(root: str) -> str:
    return os.path.join(root, ".decapod", "run", "server.json")


def _read_server_json(root: str) -> Optional[Dict[str, Any]]:
    try:
        with open(_server_json_path(root), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(info, dict)
        and isinstance(info.get("url"), str)
        and isinstance(info.get("token"), str)
        and isinstance(info.get("instance_id"), str)
        and isinstance(info.get("pid"), int)
        and isinstance(info.get("port"), int)
    )
    return info if ok else None


def _host_port(url: str) -> Tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise TransportError(None, None, "not a Decapod server URL: {!r}".format(url))
    return parts.hostname, parts.port


def _healthz(url: str) -> Optional[Dict[str, Any]]:
    try:
        host, port = _host_port(url)
        conn = http.client.HTTPConnection(host, port, timeout=_HEALTH_TIMEOUT_S)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                return None
            parsed = json.loads(body.decode("utf-8"))
            return parsed if isinstance(parsed, dict) else None
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException, DecapodError):
        return None


def find_server(root: str) -> Optional[Dict[str, Any]]:
    """The server advertised in ``<root>/.decapod/run/server.json`` if ``/healthz`` answers as that
    same instance for that root; None otherwise. Raises VersionMismatchError when it speaks
    another protocol."""
    info = _read_server_json(root)
    if info is None:
        return None
    health = _healthz(info["url"])
    if health is None or health.get("instance_id") != info["instance_id"]:
        return None
    # A server.json copied from another project names another root: never trusted.
    if info.get("root") != root or health.get("root") != root:
        return None
    if health.get("protocol") != PROTOCOL:
        raise VersionMismatchError(
            None,
            None,
            "protocol mismatch: this client speaks protocol {}, the server for {} speaks {}".format(
                PROTOCOL, root, health.get("protocol")
            ),
            {"client": PROTOCOL, "server": health.get("protocol"), "root": root},
        )
    return info


def _decapod_command(decapod_bin: Optional[str], env: Mapping[str, str]) -> List[str]:
    explicit = decapod_bin or env.get("DECAPOD_BIN")
    if explicit:
        return [explicit]
    found = shutil.which("decapod", path=env.get("PATH"))
    if found:
        return [found]
    # Used from a checkout of decapod itself: clients/python/ sits beside bin/.
    sibling = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin", "decapod")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return [os.path.realpath(sibling)]
    raise LaunchError(
        None,
        "START_FAILED",
        "cannot start a decapod server: set DECAPOD_BIN to the decapod CLI or put decapod on PATH",
        {},
    )


def ensure_server(
    root: str,
    *,
    spawn: Optional[bool] = None,
    decapod_bin: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """A healthy server's server.json for ``root``, starting one with ``decapod env --root ROOT``
    when none answers (unless ``spawn`` is False or, by default, DECAPOD_NO_SPAWN=1)."""
    environ = dict(os.environ if env is None else env)
    may_spawn = spawn if spawn is not None else environ.get("DECAPOD_NO_SPAWN") != "1"
    info = find_server(root)
    if info is not None:
        return info
    if not may_spawn:
        raise LaunchError(
            None,
            "NO_SERVER",
            "no decapod server is running for {} (DECAPOD_NO_SPAWN=1 forbids starting one)".format(root),
            {"root": root},
        )
    cmd = _decapod_command(decapod_bin, environ) + ["env", "--root", root]
    environ.pop("DECAPOD_NO_SPAWN", None)
    log = os.path.join(root, ".decapod", "run", "server.log")
    for _ in range(3):
        try:
            done = subprocess.run(
                cmd,
                cwd=root,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=_SPAWN_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise LaunchError(None, "START_FAILED", "could not run {}: {}".format(cmd[0], exc), {"log": log}) from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip() or "exit code {}".format(done.returncode)
            raise LaunchError(None, "START_FAILED", "{} env --root {} failed: {}".format(cmd[0], root, detail), {"log": log})
        # `decapod env` saw it healthy; it may already have exited again (idle, stopped): ask anew.
        deadline = time.monotonic() + 2.0
        while True:
            info = find_server(root)
            if info is not None:
                return info
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    raise LaunchError(None, "START_FAILED", "decapod server for {} did not stay healthy; see {}".format(root, log), {"log": log})


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _wait_pid_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class _Undelivered(Exception):
    """The request certainly never reached a server (connection refused)."""


class Client(_GeneratedMethods):
    """A connection to one project's Decapod server. Thread-safe: each thread keeps its own
    keep-alive connection. Use ``connect()`` to create one, or as a context manager."""

    def __init__(
        self,
        root: Optional[str] = None,
        *,
        spawn: Optional[bool] = None,
        timeout: Optional[float] = None,
        decapod_bin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        keep_receipts: int = DEFAULT_KEEP_RECEIPTS,
    ) -> None:
        """``root``: the project (default: the enclosing git repository's main worktree, else the
        current folder). ``spawn``: start a server when none runs (default: unless
        DECAPOD_NO_SPAWN=1). ``timeout``: seconds to wait for one answer (default: no limit, as
        claim.acquire may wait). ``env``: the environment the decapod CLI is run with.
        ``keep_receipts``: how many receipts of its own mutations to keep for ``verify_receipts()``,
        the newest ones (default 1000, at most 10000, 0 keeps none)."""
        if isinstance(keep_receipts, bool) or not isinstance(keep_receipts, int) or not 0 <= keep_receipts <= _MAX_KEEP_RECEIPTS:
            raise ValueError("keep_receipts: expected a whole number from 0 to {}, got {!r}".format(_MAX_KEEP_RECEIPTS, keep_receipts))
        self._receipts: "collections.deque[Dict[str, Any]]" = collections.deque(maxlen=keep_receipts)
        self.root: str = project_root(root)
        self._env: Dict[str, str] = dict(os.environ if env is None else env)
        self._spawn: bool = spawn if spawn is not None else self._env.get("DECAPOD_NO_SPAWN") != "1"
        self._timeout = timeout
        self._decapod_bin = decapod_bin
        self._info: Optional[Dict[str, Any]] = None
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: List[http.client.HTTPConnection] = []
        self._ids = itertools.count(1)
        self._keepers: List["LeaseKeeper"] = []
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    def connect(self) -> "Client":
        """Finds (or starts) the server now rather than at the first call."""
        self._server()
        return self

    @property
    def server(self) -> Dict[str, Any]:
        """What server.json advertises (url, pid, instance_id, version, protocol, root), without the token."""
        info = self._server()
        return {k: v for k, v in info.items() if k != "token"}

    def close(self) -> None:
        """Stops background lease renewal, revokes leases still held by LeaseKeepers and closes
        the connections. The server keeps running (it exits by itself when idle)."""
        for keeper in list(self._keepers):
            try:
                keeper.release()
            except DecapodError:
                pass
        with self._lock:
            self._closed = True
            conns, self._connections = self._connections, []
        for conn in conns:
            conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def lease(
        self,
        agent: str,
        *,
        ttl_ms: Optional[int] = None,
        pid: Optional[int] = None,
        meta: Optional[Dict[str, Any]] = None,
        renew: bool = True,
        on_lost: Optional[Callable[["LeaseKeeper", DecapodError], None]] = None,
        raise_on_lost: bool = True,
    ) -> "LeaseKeeper":
        """Grants a lease now and keeps it alive from a background thread (renewing at a third of
        its TTL) until ``release()`` or the end of the ``with`` block, which revokes it.

        If the lease is lost meanwhile (expired or revoked), ``lost`` becomes True, ``on_lost`` is
        called (from the renewal thread), ``check()`` raises LeaseLostError, and so does leaving
        the ``with`` block (unless ``raise_on_lost`` is False or another exception is on its way)."""
        started = time.monotonic()
        granted = self.lease_grant(agent=agent, ttl_ms=ttl_ms, pid=pid, meta=meta)
        keeper = LeaseKeeper(self, granted, started=started, on_lost=on_lost, raise_on_lost=raise_on_lost)
        self._keepers.append(keeper)
        if renew:
            keeper._start()
        return keeper

    # -- receipts (DESIGN §11) ----------------------------------------------------------------

    def receipts(self) -> List[Dict[str, Any]]:
        """The receipts of this client's own mutations, oldest first: the newest ``keep_receipts``
        of them (default 1000), kept in this process, outside the server's database."""
        with self._lock:
            return [dict(r) for r in self._receipts]

    def verify_receipts(self) -> Dict[str, Any]:
        """Holds the server's log to the kept receipts (``audit.verify`` with their seq and hash).
        ``ok`` is False when the log contradicts any of them (rolled back, truncated or rewritten);
        ``receipts["contradicted"]`` lists each one, and the result also says how the log stands
        against its hash chain and its git checkpoints."""
        kept = [{"seq": r["seq"], "hash": r["hash"]} for r in self.receipts()]
        return dict(self._call("audit.verify", {"receipts": kept}))

    def _keep_receipt(self, result: Any) -> None:
        receipt = result.get("receipt") if isinstance(result, dict) else None
        if not isinstance(receipt, dict) or not isinstance(receipt.get("seq"), int) or not isinstance(receipt.get("hash"), str):
            return
        with self._lock:
            last = self._receipts[-1] if self._receipts else None
            # A repeat answered from its idempotency record is the same receipt: kept once.
            if self._receipts.maxlen and (last is None or (last["seq"], last["hash"]) != (receipt["seq"], receipt["hash"])):
                self._receipts.append(dict(receipt))

    # -- calls -------------------------------------------------------------------------------

    def _server(self) -> Dict[str, Any]:
        with self._lock:
            if self._info is None:
                self._info = ensure_server(self.root, spawn=self._spawn, decapod_bin=self._decapod_bin, env=self._env)
            return self._info

    def _rediscover(self, stale: Dict[str, Any]) -> Dict[str, Any]:
        with self._lock:
            if self._info is not None and self._info.get("instance_id") != stale.get("instance_id"):
                return self._info  # another thread already found the successor
            self._info = None
            return self._server()

    def _connection(self, info: Dict[str, Any]) -> Tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to ``info``'s server, and whether it is new."""
        local = self._local
        conn: Optional[http.client.HTTPConnection] = getattr(local, "conn", None)
        now = time.monotonic()
        if conn is not None and (
            getattr(local, "url", None) != info["url"] or conn.sock is None or now - getattr(local, "used", now) > _IDLE_RECONNECT_S
        ):
            self._drop_connection()
            conn = None
        if conn is not None:
            return conn, False
        host, port = _host_port(info["url"])
        conn = http.client.HTTPConnection(host, port, timeout=self._timeout)
        try:
            conn.connect()
        except ConnectionRefusedError as exc:
            conn.close()
            raise _Undelivered(str(exc)) from exc
        except OSError as exc:
            conn.close()
            raise TransportError(None, None, "cannot connect to {}: {}".format(info["url"], exc)) from exc
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._lock:
            if self._closed:
                conn.close()
                raise TransportError(None, None, "this client is closed")
            self._connections.append(conn)
        local.conn, local.url = conn, info["url"]
        return conn, True

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)

    def _post(self, info: Dict[str, Any], body: bytes) -> Tuple[int, bytes]:
        conn, _fresh = self._connection(info)
        try:
            conn.request(
                "POST",
                "/rpc",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Authorization": "Bearer " + info["token"],
                },
            )
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self._drop_connection()
            raise
        self._local.used = time.monotonic()
        if resp.will_close:
            self._drop_connection()
        return resp.status, data

    def _call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        if self._closed:
            raise TransportError(None, None, "this client is closed")
        p: Dict[str, Any] = dict(params or {})
        meta = METHODS.get(method)
        if meta is not None and meta["audited"] and "idempotency_key" not in p:
            p["idempotency_key"] = str(uuid.uuid4())
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": p}).encode("utf-8")
        # Repeating it cannot apply anything twice: it carries a key, or it is not an audited write.
        repeatable = "idempotency_key" in p or (meta is not None and not meta["audited"])
        info = self._server()
        for attempt in (0, 1):
            last = attempt == 1
            try:
                status, raw = self._post(info, body)
            except _Undelivered as exc:
                if last:
                    raise TransportError(None, None, "cannot reach the decapod server at {}: {}".format(info["url"], exc)) from None
                info = self._rediscover(info)
                continue
            except socket.timeout as exc:
                raise TransportError(None, None, "no answer from {} within {} s".format(info["url"], self._timeout)) from exc
            except (OSError, http.client.HTTPException) as exc:
                # The server went away under the call (killed, restarted, or a stale keep-alive).
                if last or not repeatable:
                    raise TransportError(None, None, "{} to {} failed: {!r}".format(method, info["url"], exc)) from exc
                info = self._rediscover(info)
                continue
            if status == 401 and not last:
                # server.json named a server that has since been replaced; the call never ran.
                info = self._rediscover(info)
                continue
            try:
                answer = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                answer = None
            if isinstance(answer, dict) and "error" in answer:
                err = _error_from(answer["error"])
                if isinstance(err, ShuttingDownError) and not last:
                    _wait_pid_gone(int(info.get("pid", 0)) or -1, 5.0)
                    info = self._rediscover(info)
                    continue
                raise err
            if status != 200 or not isinstance(answer, dict) or "result" not in answer:
                raise TransportError(None, None, "unexpected answer from {}: HTTP {} {!r}".format(info["url"], status, raw[:200]))
            self._keep_receipt(answer["result"])
            return answer["result"]
        raise AssertionError("unreachable")  # pragma: no cover


def connect(
    root: Optional[str] = None,
    *,
    spawn: Optional[bool] = None,
    timeout: Optional[float] = None,
    decapod_bin: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    keep_receipts: int = DEFAULT_KEEP_RECEIPTS,
) -> Client:
    """A Client for ``root`` (see Client), with its server found or started now."""
    return Client(root, spawn=spawn, timeout=timeout, decapod_bin=decapod_bin, env=env, keep_receipts=keep_receipts).connect()


# ---------------------------------------------------------------------------------------------
# Leases kept alive in the background
# ---------------------------------------------------------------------------------------------


class LeaseKeeper:
    """A granted lease renewed by a daemon thread at a third of its TTL. ``lease`` is the secret
    to pass as ``lease=``; ``lost`` / ``lost_reason`` / ``lost_error`` say whether it was lost."""

    def __init__(
        self,
        client: Client,
        granted: Mapping[str, Any],
        *,
        started: Optional[float] = None,
        on_lost: Optional[Callable[["LeaseKeeper", DecapodError], None]] = None,
        raise_on_lost: bool = True,
    ) -> None:
        self.client = client
        self.granted: Dict[str, Any] = dict(granted)
        self.lease: str = granted["lease"]
        self.lease_id: str = granted["lease_id"]
        self.agent: str = granted["agent"]
        self.ttl_ms: int = int(granted["ttl_ms"])
        self.expires_at: str = granted["expires_at"]
        self.renewals: int = 0
        self.lost: bool = False
        self.lost_reason: Optional[str] = None
        self.lost_error: Optional[DecapodError] = None
        self.last_error: Optional[BaseException] = None
        self.released: bool = False
        self._on_lost = on_lost
        self._raise_on_lost = raise_on_lost
        begun = time.monotonic() if started is None else started
        self._deadline = begun + int(granted["ttl_remaining_ms"]) / 1000.0
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        state = "lost" if self.lost else "released" if self.released else "held"
        return "LeaseKeeper(agent={!r}, lease_id={!r}, {})".format(self.agent, self.lease_id, state)

    @property
    def remaining_ms(self) -> int:
        """Time left by this process's monotonic clock since the last successful renewal."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decapod-lease-{}".format(self.lease_id), daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.ttl_ms / 3000.0
        wait = interval
        while not self._stop.wait(wait):
            try:
                self.renew()
                wait = interval
            except LeaseInvalidError:
                return  # renew() recorded the loss
            except Exception as exc:  # a transient fault (server restarting, busy): try again sooner
                self.last_error = exc
                left = self._deadline - time.monotonic()
                if left <= 0:
                    err = exc if isinstance(exc, DecapodError) else TransportError(None, None, repr(exc))
                    self._mark_lost("expired", err)
                    return
                wait = max(0.1, min(interval, left / 3))

    def renew(self) -> Dict[str, Any]:
        """Renews now (the background thread does this by itself)."""
        started = time.monotonic()
        try:
            result = self.client.lease_renew(lease=self.lease)
        except LeaseInvalidError as exc:
            self._mark_lost(str(exc.data.get("reason") or "invalid"), exc)
            raise
        with self._state:
            self.renewals += 1
            self._deadline = started + int(result["ttl_remaining_ms"]) / 1000.0
            self.expires_at = result["expires_at"]
        return dict(result)

    def _mark_lost(self, reason: str, error: DecapodError) -> None:
        with self._state:
            if self.lost:
                return
            self.lost, self.lost_reason, self.lost_error = True, reason, error
        self._stop.set()
        if self._on_lost is not None:
            try:
                self._on_lost(self, error)
            except Exception:  # a callback's failure must not hide the loss
                pass

    def _lost_error(self) -> LeaseLostError:
        return LeaseLostError(
            LeaseLostError.CODE,
            LeaseLostError.NAME,
            "lease {} of {} was lost ({}): stop working on what it held".format(self.lease_id, self.agent, self.lost_reason),
            {"reason": self.lost_reason, "lease_id": self.lease_id, "agent": self.agent},
        )

    def check(self) -> None:
        """Raises LeaseLostError if the lease was lost: call it before acting on what it holds."""
        if self.lost:
            raise self._lost_error()

    def stop_renewing(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def release(self) -> Optional[Dict[str, Any]]:
        """Stops renewal and revokes the lease (releasing its claims). Returns lease.revoke's
        result, or None when it was already lost or released."""
        self.stop_renewing()
        if self.released or self.lost:
            return None
        try:
            result = self.client.lease_revoke(lease=self.lease)
        except LeaseInvalidError as exc:
            self._mark_lost(str(exc.data.get("reason") or "invalid"), exc)
            return None
        finally:
            self.released = True
            if self in self.client._keepers:
                self.client._keepers.remove(self)
        return dict(result)

    def __enter__(self) -> "LeaseKeeper":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.release()
        except DecapodError:
            if exc_type is None:
                raise
        if self.lost and exc_type is None and self._raise_on_lost:
            raise self._lost_error()


# ---------------------------------------------------------------------------------------------
# Throwaway instances for tests
# ---------------------------------------------------------------------------------------------


class EphemeralClient(Client):
    """A Client for a private temporary root with its own server. ``close()`` stops that server
    and removes the folder; also a context manager."""

    def close(self) -> None:
        super().close()
        pid: Optional[int] = None
        info = _read_server_json(self.root)
        if info is not None:
            pid = info.get("pid")
            # Never respawn while stopping: a plain client for the same root, spawn off.
            stopper = Client(self.root, spawn=False, env=self._env, timeout=10)
            try:
                stopper.server_shutdown()
            except DecapodError:
                pass
            finally:
                stopper.close()
        if isinstance(pid, int) and not _wait_pid_gone(pid, 10.0):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except OSError:
                    break
                if _wait_pid_gone(pid, 5.0):
                    break
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "EphemeralClient":
        return self


def start_ephemeral(
    *,
    idle_timeout: str = "60s",
    timeout: Optional[float] = None,
    decapod_bin: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> EphemeralClient:
    """A fresh temporary root with its own server, for tests. ``close()`` (or leaving a ``with``
    block) stops the server and removes the folder. ``idle_timeout`` is a safety net: a server
    left behind exits by itself."""
    root = os.path.realpath(tempfile.mkdtemp(prefix="decapod-py-"))
    environ = dict(os.environ if env is None else env)
    environ["DECAPOD_IDLE_TIMEOUT"] = idle_timeout
    environ.pop("DECAPOD_NO_SPAWN", None)
    client = EphemeralClient(root, spawn=True, timeout=timeout, decapod_bin=decapod_bin, env=environ)
    try:
        client.connect()
    except BaseException:
        client.close()
        raise
    return client
