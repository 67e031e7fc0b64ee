"""The Client: one keep-alive connection per thread to one project's server, typed methods,
one safe retry when the server went away, and the receipts of its own mutations."""

from __future__ import annotations

import collections
import http.client
import itertools
import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ._discovery import _host_port, _wait_pid_gone, ensure_server, project_root
from ._lease_keeper import LeaseKeeper
from ._methods import METHODS, _GeneratedMethods
from .errors import DecapodError, ShuttingDownError, TransportError, _error_from

_IDLE_RECONNECT_S = 30.0  # the server keeps idle connections ~72 s; reconnect well before that
DEFAULT_KEEP_RECEIPTS = 1000  # receipts a Client keeps for verify_receipts() (about 300 kB)
_MAX_KEEP_RECEIPTS = 10000  # what audit.verify takes in one call


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
