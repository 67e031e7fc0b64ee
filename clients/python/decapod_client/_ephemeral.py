"""Throwaway servers for tests: a temporary root with its own server, removed on close()."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import Mapping, Optional

from ._client import Client
from ._discovery import _read_server_json, _wait_pid_gone
from .errors import DecapodError


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
