"""Leases kept alive by a background thread, renewing at a third of their TTL."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional

from .errors import DecapodError, LeaseInvalidError, LeaseLostError, TransportError

if TYPE_CHECKING:
    from ._client import Client


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
