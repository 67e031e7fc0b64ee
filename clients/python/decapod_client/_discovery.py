"""Finding a project's server, or starting one: the same rules as the TypeScript launcher (read
``<root>/.decapod/run/server.json``, check ``GET /healthz`` answers as that instance for that root,
else run ``decapod env --root ROOT``)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from .errors import DecapodError, LaunchError, TransportError, VersionMismatchError
from .types import PROTOCOL


_HEALTH_TIMEOUT_S = 1.0
_SPAWN_TIMEOUT_S = 60.0  # `decapod env` waits up to 20 s itself (past a killed server's stale lock)


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
    # Used from a checkout of decapod itself (not installed): clients/python/decapod_client/ sits
    # two folders below bin/.
    sibling = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bin", "decapod")
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
