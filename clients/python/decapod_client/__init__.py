"""Decapod client for Python: standard library only, Python 3.9+.

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

The package: ``errors`` (the exception classes), ``types`` (the TypedDicts of every method's params
and result, generated from ``openapi/openapi.json`` by ``scripts/generate-python-types.mjs``, as is
``_methods``, the typed methods); the rest is written by hand. Everything public is re-exported here.
"""

from ._client import DEFAULT_KEEP_RECEIPTS, Client, connect
from ._discovery import ensure_server, find_server, project_root
from ._ephemeral import EphemeralClient, start_ephemeral
from ._lease_keeper import LeaseKeeper
from ._methods import METHODS
from ._params import OMIT
from .errors import (
    ERROR_CLASSES,
    BusyError,
    ConflictError,
    DecapodError,
    FencedOutError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    InvalidStateError,
    LaunchError,
    LeaseInvalidError,
    LeaseLostError,
    MethodNotFoundError,
    NotFoundError,
    NotHolderError,
    OutOfBoundsError,
    ParseError,
    ProofNotAllowedError,
    ProofRequiredError,
    ShuttingDownError,
    TransportError,
    UnavailableError,
    VersionMismatchError,
)
from .types import *  # noqa: F401,F403 (every method's params and result TypedDicts)
from .types import PROTOCOL, SCHEMA_VERSION

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL",
    "SCHEMA_VERSION",
    "METHODS",
    "OMIT",
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
