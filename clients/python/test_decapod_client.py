"""Tests of decapod_client.py (standard library unittest; Python 3.9+).

    DECAPOD_BIN=../../bin/decapod python3 -m unittest -v test_decapod_client

Needs the built CLI (`npm run build`); DECAPOD_BIN defaults to this checkout's bin/decapod.
test/clients/python-client.test.ts runs this under vitest and fails on any failure or skip.
"""

from __future__ import annotations

import ast
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing
import unittest
import urllib.request
import uuid
from unittest import mock

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import decapod_client as dc  # noqa: E402

BIN = os.environ.get("DECAPOD_BIN") or os.path.realpath(os.path.join(HERE, "..", "..", "bin", "decapod"))
EPH: typing.Optional[dc.EphemeralClient] = None


def setUpModule() -> None:
    global EPH
    if not os.access(BIN, os.X_OK):
        raise RuntimeError("the decapod CLI is not at {} (set DECAPOD_BIN, run npm run build)".format(BIN))
    EPH = dc.start_ephemeral(decapod_bin=BIN, idle_timeout="60s")


def tearDownModule() -> None:
    if EPH is not None:
        EPH.close()


def wait_for(cond: typing.Callable[[], typing.Any], what: str, timeout: float = 20.0) -> typing.Any:
    """Polls cond until truthy; fails naming `what` after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def eph() -> dc.EphemeralClient:
    assert EPH is not None
    return EPH


# ---------------------------------------------------------------------------------------------
# Without a server: the module itself
# ---------------------------------------------------------------------------------------------


class ModuleTests(unittest.TestCase):
    def test_source_parses_as_python_3_9(self) -> None:
        with open(dc.__file__, encoding="utf-8") as f:
            source = f.read()
        ast.parse(source, filename=dc.__file__, feature_version=(3, 9))
        self.assertIn("# --- BEGIN GENERATED TYPES ---\n", source)
        self.assertIn("# --- END GENERATED TYPES ---\n", source)

    def test_a_typed_method_per_rpc_method(self) -> None:
        self.assertGreaterEqual(len(dc.METHODS), 20)
        for method in dc.METHODS:
            name = method.replace(".", "_")
            self.assertTrue(callable(getattr(dc.Client, name, None)), name)
        hints = typing.get_type_hints(dc.Client.claim_acquire)
        self.assertIs(hints["return"], dc.ClaimAcquireResult)
        self.assertEqual(hints["paths"], typing.List[str])
        self.assertEqual(dc.ClaimAcquireParams.__required_keys__, frozenset({"lease", "paths"}))
        self.assertIn("idempotency_key", dc.ClaimAcquireParams.__optional_keys__)
        self.assertEqual(typing.get_type_hints(dc.Claim)["mode"], typing.Literal["exclusive", "shared"])
        self.assertEqual(typing.get_type_hints(dc.ClaimAcquireResult)["claim"], dc.Claim)

    def test_catalog_marks_audited_mutations(self) -> None:
        self.assertEqual(dc.METHODS["claim.acquire"]["kind"], "mutation")
        self.assertTrue(dc.METHODS["claim.acquire"]["audited"])
        self.assertTrue(dc.METHODS["lease.grant"]["audited"])
        self.assertFalse(dc.METHODS["lease.renew"]["audited"])  # cheap: no audit event
        self.assertFalse(dc.METHODS["claim.check"]["audited"])
        self.assertEqual(dc.METHODS["claim.acquire"]["lease"], "required")
        self.assertEqual(dc.METHODS["claim.check"]["lease"], "optional")
        self.assertEqual(dc.PROTOCOL, 1)

    def test_error_classes(self) -> None:
        self.assertEqual(len(dc.ERROR_CLASSES), 18)
        for name, cls in dc.ERROR_CLASSES.items():
            self.assertTrue(issubclass(cls, dc.DecapodError))
            self.assertEqual(cls.NAME, name)
        err = dc._error_from({"code": 1003, "message": "held", "data": {"code": "CONFLICT", "conflicts": []}})
        self.assertIsInstance(err, dc.ConflictError)
        self.assertEqual((err.code, err.name, err.message), (1003, "CONFLICT", "held"))
        # A name this client does not know yet falls back on the code, then on the base class.
        self.assertIsInstance(dc._error_from({"code": 1005, "message": "x", "data": {"code": "NEWER"}}), dc.FencedOutError)
        other = dc._error_from({"code": 4242, "message": "x", "data": {"code": "NEWER"}})
        self.assertIs(type(other), dc.DecapodError)
        self.assertEqual(other.name, "NEWER")
        self.assertTrue(issubclass(dc.LeaseLostError, dc.LeaseInvalidError))

    def test_params_leave_out_defaults(self) -> None:
        self.assertEqual(dc._params({"a": 1, "b": None, "c": dc.OMIT}), {"a": 1})
        self.assertEqual(dc._params({"a": None, "b": dc.OMIT}, keep_none=("a",)), {"a": None})

    def test_project_root_is_the_main_worktree(self) -> None:
        main = os.path.realpath(tempfile.mkdtemp(prefix="decapod-py-git-"))
        try:
            git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
            subprocess.run(git + ["init", "-q", main], check=True)
            subprocess.run(git + ["-C", main, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
            os.makedirs(os.path.join(main, "sub", "deeper"))
            wt = os.path.join(main, "..", os.path.basename(main) + "-wt")
            subprocess.run(git + ["-C", main, "worktree", "add", "-q", wt], check=True, stderr=subprocess.DEVNULL)
            try:
                self.assertEqual(dc.project_root(cwd=os.path.join(main, "sub", "deeper")), main)
                self.assertEqual(dc.project_root(cwd=wt), main)
                self.assertEqual(dc.project_root("sub", cwd=main), os.path.join(main, "sub"))
            finally:
                shutil.rmtree(wt, ignore_errors=True)
            plain = os.path.realpath(tempfile.mkdtemp(prefix="decapod-py-plain-"))
            self.assertEqual(dc.project_root(cwd=plain), plain)
            os.rmdir(plain)
        finally:
            shutil.rmtree(main, ignore_errors=True)

    def test_no_spawn_fails_and_starts_nothing(self) -> None:
        root = os.path.realpath(tempfile.mkdtemp(prefix="decapod-py-nospawn-"))
        try:
            env = dict(os.environ, DECAPOD_NO_SPAWN="1", DECAPOD_BIN=BIN)
            with self.assertRaises(dc.LaunchError) as cm:
                dc.Client(root, env=env).call("lease.list")
            self.assertEqual(cm.exception.name, "NO_SERVER")
            self.assertIn("DECAPOD_NO_SPAWN", str(cm.exception))
            with self.assertRaises(dc.LaunchError):
                dc.connect(root, spawn=False, decapod_bin=BIN)
            self.assertFalse(os.path.exists(os.path.join(root, ".decapod", "run", "server.json")))
        finally:
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Against a scripted fake server: retries, idempotency keys, version mismatch
# ---------------------------------------------------------------------------------------------


class FakeServer:
    """An HTTP server that answers /healthz as a Decapod instance of `root` and scripts /rpc:
    each POST pops the next action ('drop' closes the connection without answering, an int is an
    HTTP status, a dict is a JSON-RPC error, None answers with a result)."""

    def __init__(self, protocol: int = 1, pid: typing.Optional[int] = None) -> None:
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="decapod-py-fake-"))
        self.instance_id = str(uuid.uuid4())
        self.token = "tok-" + uuid.uuid4().hex
        self.protocol = protocol
        self.script: typing.List[typing.Any] = []
        self.requests: typing.List[typing.Dict[str, typing.Any]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: typing.Any) -> None:
                pass

            def _send(self, status: int, body: typing.Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, {"ok": True, "version": "9.9.9", "protocol": fake.protocol, "instance_id": fake.instance_id, "root": fake.root, "pid": fake.pid})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"body": body, "auth": self.headers.get("Authorization"), "host": self.headers.get("Host")})
                action = fake.script.pop(0) if fake.script else None
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(action, int):
                    self._send(action, {"error": "scripted"})
                elif isinstance(action, dict):
                    self._send(200, {"jsonrpc": "2.0", "id": body["id"], "error": action})
                else:
                    self._send(200, {"jsonrpc": "2.0", "id": body["id"], "result": {"n": len(fake.requests), "method": body["method"]}})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.pid = pid if pid is not None else os.getpid()
        run = os.path.join(self.root, ".decapod", "run")
        os.makedirs(run)
        with open(os.path.join(run, "server.json"), "w") as f:
            json.dump(
                {"url": "http://127.0.0.1:{}".format(self.port), "port": self.port, "pid": self.pid, "token": self.token, "version": "9.9.9",
                 "protocol": protocol, "root": self.root, "instance_id": self.instance_id, "started_at": "2026-01-01T00:00:00.000Z"},
                f,
            )
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def client(self) -> dc.Client:
        return dc.Client(self.root, spawn=False, timeout=10)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.root, ignore_errors=True)


class FakeServerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.addCleanup(self.fake.close)

    def test_envelope_token_and_loopback_host(self) -> None:
        with self.fake.client() as client:
            self.assertEqual(client.call("server.status"), {"n": 1, "method": "server.status"})
        req = self.fake.requests[0]
        self.assertEqual(req["body"]["jsonrpc"], "2.0")
        self.assertEqual(req["body"]["params"], {})
        self.assertEqual(req["auth"], "Bearer " + self.fake.token)
        self.assertEqual(req["host"], "127.0.0.1:{}".format(self.fake.port))

    def test_audited_mutation_retried_once_with_the_same_idempotency_key(self) -> None:
        self.fake.script = ["drop"]  # the server "dies" after reading the request
        params = {"lease": "dcl_x", "paths": ["src"]}
        with self.fake.client() as client:
            result = client.call("claim.acquire", params)
        self.assertEqual(result["n"], 2)
        first, second = (r["body"]["params"] for r in self.fake.requests)
        self.assertEqual(first, second)
        key = first["idempotency_key"]
        self.assertEqual(str(uuid.UUID(key)), key)
        self.assertNotIn("idempotency_key", params)  # the caller's dict is left alone
        # A caller's own key is kept as is.
        with self.fake.client() as client:
            client.claim_acquire(lease="dcl_x", paths=["src"], idempotency_key="mine")
        self.assertEqual(self.fake.requests[-1]["body"]["params"]["idempotency_key"], "mine")

    def test_queries_carry_no_key_and_are_retried(self) -> None:
        self.fake.script = ["drop"]
        with self.fake.client() as client:
            self.assertEqual(client.claim_check(paths=["a"])["n"], 2)
        self.assertNotIn("idempotency_key", self.fake.requests[0]["body"]["params"])

    def test_only_one_retry(self) -> None:
        self.fake.script = ["drop", "drop"]
        with self.fake.client() as client:
            with self.assertRaises(dc.TransportError):
                client.lease_grant(agent="a")
        self.assertEqual(len(self.fake.requests), 2)

    def test_a_method_unknown_to_this_client_is_not_repeated_once_delivered(self) -> None:
        self.fake.script = ["drop"]
        with self.fake.client() as client:
            with self.assertRaises(dc.TransportError):
                client.call("future.write", {"x": 1})
        self.assertEqual(len(self.fake.requests), 1)

    def test_401_rediscovers_and_retries(self) -> None:
        self.fake.script = [401]
        with self.fake.client() as client:
            self.assertEqual(client.lease_list()["n"], 2)

    def test_shutting_down_reconnects_and_retries(self) -> None:
        gone = subprocess.Popen(["true"])
        gone.wait()
        stopping = FakeServer(pid=gone.pid)  # the "stopping" server's pid is already gone
        self.addCleanup(stopping.close)
        stopping.script = [{"code": -32003, "message": "shutting down", "data": {"code": "SHUTTING_DOWN"}}]
        with stopping.client() as client:
            self.assertEqual(client.lease_list()["n"], 2)

    def test_rpc_errors_raise_their_class(self) -> None:
        self.fake.script = [{"code": 1005, "message": "stale", "data": {"code": "FENCED_OUT", "current_fence": 7}}]
        with self.fake.client() as client:
            with self.assertRaises(dc.FencedOutError) as cm:
                client.claim_release(lease="l", claim="C1", fence=6)
        self.assertEqual(cm.exception.data["current_fence"], 7)
        self.assertEqual(len(self.fake.requests), 1)

    def test_keep_alive_one_connection(self) -> None:
        with self.fake.client() as client:
            for _ in range(5):
                client.lease_list()
            self.assertEqual(len(client._connections), 1)

    def test_version_mismatch_names_both_versions(self) -> None:
        other = FakeServer(protocol=99)
        self.addCleanup(other.close)
        with self.assertRaises(dc.VersionMismatchError) as cm:
            dc.connect(other.root, spawn=False)
        err = cm.exception
        self.assertEqual((err.code, err.name), (-32002, "VERSION_MISMATCH"))
        self.assertEqual((err.data["client"], err.data["server"]), (1, 99))
        self.assertIn("protocol 1", str(err))
        self.assertIn("speaks 99", str(err))
        self.assertEqual(other.requests, [])

    def test_a_server_json_of_another_root_is_not_trusted(self) -> None:
        path = os.path.join(self.fake.root, ".decapod", "run", "server.json")
        with open(path) as f:
            info = json.load(f)
        info["root"] = "/somewhere/else"
        with open(path, "w") as f:
            json.dump(info, f)
        self.assertIsNone(dc.find_server(self.fake.root))
        with self.assertRaises(dc.LaunchError):
            dc.connect(self.fake.root, spawn=False)


# ---------------------------------------------------------------------------------------------
# Against a real server
# ---------------------------------------------------------------------------------------------


class RealServerTests(unittest.TestCase):
    def test_conflict_names_the_holder(self) -> None:
        c = eph()
        alice = c.lease_grant(agent="alice", ttl_ms=60_000)
        bob = c.lease_grant(agent="bob", ttl_ms=60_000)
        claim = c.claim_acquire(lease=alice["lease"], paths=["src/conflict"], reason="refactor")["claim"]
        self.assertEqual((claim["agent"], claim["mode"], claim["state"]), ("alice", "exclusive", "active"))
        with self.assertRaises(dc.ConflictError) as cm:
            c.claim_acquire(lease=bob["lease"], paths=["src/conflict/x.py"])
        err = cm.exception
        self.assertIsInstance(err, dc.DecapodError)
        self.assertEqual((err.code, err.name), (1003, "CONFLICT"))
        self.assertEqual(err.data["conflicts"][0]["agent"], "alice")
        self.assertEqual(err.data["conflicts"][0]["claim_id"], claim["id"])
        check = c.claim_check(paths=["src/conflict/y.py", "elsewhere"], lease=bob["lease"])
        by_path = {p["path"]: p for p in check["paths"]}
        self.assertEqual((by_path["src/conflict/y.py"]["free"], by_path["elsewhere"]["free"]), (False, True))
        self.assertEqual(by_path["src/conflict/y.py"]["holders"][0]["agent"], "alice")
        # A stale fence is refused with the current one.
        with self.assertRaises(dc.FencedOutError) as fenced:
            c.claim_release(lease=alice["lease"], claim=claim["id"], fence=claim["fence"] + 1)
        self.assertEqual(fenced.exception.data["current_fence"], claim["fence"])
        released = c.claim_release(lease=alice["lease"], claim=claim["id"], fence=claim["fence"])
        self.assertEqual(released["claim"]["state"], "released")
        self.assertGreaterEqual(released["receipt"]["seq"], 1)

    def test_typed_errors_from_the_server(self) -> None:
        c = eph()
        with self.assertRaises(dc.InvalidParamsError) as bad:
            c.call("lease.grant", {"agent": 5})
        self.assertEqual(bad.exception.data["field"], "agent")
        with self.assertRaises(dc.MethodNotFoundError):
            c.call("no.such_method")
        with self.assertRaises(dc.NotFoundError) as nf:
            c.task_get(task="T99999")
        self.assertEqual(nf.exception.data["kind"], "task")
        with self.assertRaises(dc.LeaseInvalidError) as li:
            c.lease_renew(lease="dcl_not-a-lease")
        self.assertEqual(li.exception.code, 1001)

    def test_tasks_through_typed_methods(self) -> None:
        c = eph()
        lease = c.lease_grant(agent="tasker")["lease"]
        created = c.task_create(lease=lease, title="Typed task", priority=1, labels=["py"], paths=["typed/area"])
        tid = created["task"]["id"]
        self.assertEqual(created["task"]["status"], "open")
        got = c.call("task.get", {"task": tid})
        self.assertEqual(got["task"]["title"], "Typed task")
        claimed = c.task_claim(lease=lease, task=tid)
        self.assertEqual(claimed["claim"]["task"], tid)
        self.assertEqual(c.task_get(task=tid)["task"]["holder"]["agent"], "tasker")
        self.assertIn(tid, [t["id"] for t in c.task_list(label="py")["tasks"]])

    def test_idempotency_key_repeat_writes_nothing(self) -> None:
        c = eph()
        key = "py-" + uuid.uuid4().hex
        first = c.lease_grant(agent="idem", idempotency_key=key)
        seq = c.audit_list(limit=1000)
        again = c.lease_grant(agent="idem", idempotency_key=key)
        self.assertEqual(first["lease_id"], again["lease_id"])
        self.assertEqual(first["receipt"], again["receipt"])
        self.assertEqual(len(c.audit_list(limit=1000)["events"]), len(seq["events"]))
        # Without a key of the caller's, each call gets a fresh one: two grants, two leases.
        a, b = c.lease_grant(agent="idem2"), c.lease_grant(agent="idem2")
        self.assertNotEqual(a["lease_id"], b["lease_id"])

    def test_receipts_of_own_mutations_are_kept_bounded_and_verified(self) -> None:
        with dc.Client(eph().root, spawn=False, keep_receipts=2) as c:
            lease = c.lease_grant(agent="keeper")["lease"]
            c.task_create(lease=lease, title="kept one")
            last = c.task_create(lease=lease, title="kept two")
            c.task_list()  # a query: no receipt
            kept = c.receipts()
            self.assertEqual([r["op"] for r in kept], ["task.create", "task.create"])
            self.assertEqual(kept[-1], last["receipt"])
            check = c.verify_receipts()
            self.assertTrue(check["ok"], check)
            self.assertEqual(check["receipts"], {"checked": 2, "contradicted": []})
        with dc.Client(eph().root, spawn=False, keep_receipts=0) as none:
            none.lease_grant(agent="forgetful")
            self.assertEqual(none.receipts(), [])
        for bad in (-1, 10001, 1.5, True):
            with self.assertRaises(ValueError):
                dc.Client(eph().root, spawn=False, keep_receipts=bad)  # type: ignore[arg-type]

    def test_second_client_finds_the_same_server(self) -> None:
        with dc.connect(eph().root, spawn=False) as other:
            self.assertEqual(other.server["instance_id"], eph().server["instance_id"])
            self.assertNotIn("token", other.server)
            self.assertEqual(other.server_status()["root"], eph().root)

    def test_proxy_settings_are_ignored_for_loopback(self) -> None:
        dead = "http://127.0.0.1:9"
        proxies = {k: dead for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")}
        with mock.patch.dict(os.environ, dict(proxies, NO_PROXY="", no_proxy="")):
            self.assertEqual(urllib.request.getproxies().get("http"), dead)  # the setting is live
            with dc.Client(eph().root, spawn=False) as client:
                self.assertEqual(client.server_status()["instance_id"], eph().server["instance_id"])
                self.assertTrue(client.lease_grant(agent="behind-proxy")["lease"].startswith("dcl_"))

    def test_threads_share_a_client(self) -> None:
        c = dc.Client(eph().root, spawn=False)
        self.addCleanup(c.close)
        errors: typing.List[BaseException] = []
        results: typing.List[int] = []

        def work() -> None:
            try:
                for _ in range(5):
                    results.append(len(c.lease_list()["leases"]))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 20)
        self.assertLessEqual(len(c._connections), 4)

    def _lease_entry(self, lease_id: str) -> typing.Dict[str, typing.Any]:
        return next(l for l in eph().lease_list()["leases"] if l["lease_id"] == lease_id)

    def test_lease_keeper_renews_in_the_background_and_revokes_on_exit(self) -> None:
        c = eph()
        with c.lease("renewer", ttl_ms=3000) as lease:
            self.assertTrue(lease.lease.startswith("dcl_"))
            first = self._lease_entry(lease.lease_id)["expires_at"]
            # The server's own record moves on: renewals really happen (no timing assumed).
            wait_for(lambda: self._lease_entry(lease.lease_id)["expires_at"] > first, "the lease's expires_at to move")
            # The keeper counts a renewal once its answer is back, which may be just after the
            # server committed it: wait for the count too (a bounded wait, not a timing).
            wait_for(lambda: lease.renewals >= 1, "the keeper to count its renewal")
            self.assertFalse(lease.lost)
            lease.check()
            claim = c.claim_acquire(lease=lease.lease, paths=["kept/alive"])["claim"]
            self.assertEqual(claim["agent"], "renewer")
        self.assertTrue(lease.released)
        self.assertEqual(self._lease_entry(lease.lease_id)["state"], "revoked")
        self.assertEqual(c.claim_check(paths=["kept/alive"])["paths"][0]["free"], True)

    def test_lease_keeper_reports_a_lost_lease(self) -> None:
        c = eph()
        seen: typing.List[dc.DecapodError] = []
        with self.assertRaises(dc.LeaseLostError) as cm:
            with c.lease("loser", ttl_ms=3000, on_lost=lambda keeper, err: seen.append(err)) as lease:
                c.lease_revoke(lease=lease.lease)  # someone else ends it
                wait_for(lambda: lease.lost, "the keeper to notice")
                self.assertEqual(lease.lost_reason, "revoked")
                with self.assertRaises(dc.LeaseLostError):
                    lease.check()
        self.assertIsInstance(cm.exception, dc.LeaseInvalidError)
        self.assertEqual(cm.exception.data["reason"], "revoked")
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0], dc.LeaseInvalidError)
        # raise_on_lost=False records only.
        with c.lease("quiet", ttl_ms=3000, raise_on_lost=False) as quiet:
            c.lease_revoke(lease=quiet.lease)
            wait_for(lambda: quiet.lost, "the keeper to notice")
        self.assertTrue(quiet.lost)


class RespawnTests(unittest.TestCase):
    def test_retry_after_kill_9_of_the_server(self) -> None:
        with dc.start_ephemeral(decapod_bin=BIN) as c:
            lease = c.lease_grant(agent="survivor", ttl_ms=120_000)
            old_pid = c.server["pid"]
            os.kill(old_pid, signal.SIGKILL)
            wait_for(lambda: not dc._pid_alive(old_pid), "the killed server to be gone")
            # The next calls reconnect, respawn, and go on with the same store.
            task = c.task_create(lease=lease["lease"], title="after the kill")["task"]
            self.assertNotEqual(c.server["pid"], old_pid)
            titles = [t["title"] for t in c.task_list()["tasks"]]
            self.assertEqual(titles.count("after the kill"), 1)
            self.assertEqual(c.task_get(task=task["id"])["task"]["title"], "after the kill")
            self.assertEqual(self._agents(c), ["survivor"])

    def test_receipts_are_contradicted_after_the_database_is_rolled_back(self) -> None:
        files = ("decapod.db", "decapod.db-wal", "decapod.db-shm")
        with dc.start_ephemeral(decapod_bin=BIN) as c:
            lease = c.lease_grant(agent="witness", ttl_ms=120_000)["lease"]
            folder = os.path.join(c.root, ".decapod")
            older = tempfile.mkdtemp()
            try:
                self._stop(c)
                for f in files:
                    if os.path.exists(os.path.join(folder, f)):
                        shutil.copy(os.path.join(folder, f), older)
                # The next calls start a new server on the same database.
                later = [c.task_create(lease=lease, title="after the copy {}".format(i))["receipt"] for i in range(2)]
                self.assertTrue(c.verify_receipts()["ok"])
                self._stop(c)
                for f in files:
                    if os.path.exists(os.path.join(folder, f)):
                        os.remove(os.path.join(folder, f))
                    if os.path.exists(os.path.join(older, f)):
                        shutil.copy(os.path.join(older, f), folder)
                check = c.verify_receipts()  # a new server, on the older copy
                self.assertFalse(check["ok"])
                self.assertEqual(
                    [(r["seq"], r["hash"], r["problem"]) for r in check["receipts"]["contradicted"]],
                    [(r["seq"], r["hash"], "missing") for r in later],
                )
            finally:
                shutil.rmtree(older, ignore_errors=True)

    @staticmethod
    def _stop(c: dc.Client) -> None:
        pid = c.server["pid"]
        c.server_shutdown()
        wait_for(lambda: not dc._pid_alive(pid), "the server to exit")

    @staticmethod
    def _agents(c: dc.Client) -> typing.List[str]:
        return [l["agent"] for l in c.lease_list()["leases"] if l["state"] == "active"]

    def test_start_ephemeral_close_stops_the_server_and_removes_the_root(self) -> None:
        c = dc.start_ephemeral(decapod_bin=BIN)
        pid, root = c.server["pid"], c.root
        self.assertTrue(os.path.isfile(os.path.join(root, ".decapod", "run", "server.json")))
        self.assertEqual(c.server_status()["pid"], pid)
        c.close()
        self.assertFalse(dc._pid_alive(pid))
        self.assertFalse(os.path.exists(root))


if __name__ == "__main__":
    unittest.main()
