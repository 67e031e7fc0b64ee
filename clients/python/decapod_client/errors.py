"""The errors a Decapod client raises: one class per name in the server's error table
(src/errors.ts, pinned by test/contract/python-errors.test.ts), plus the client's own
(LaunchError, TransportError, LeaseLostError). All of them are DecapodError."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Type


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
