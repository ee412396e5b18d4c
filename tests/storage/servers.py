"""Real storage servers on loopback for remote-storage tests, each in a background thread.

The pipeline reads remote videos through fsspec, whose failure modes (timeouts, auth
errors, missing objects) only show against a real socket: mocks of the client would
test the mock. `HttpVideoServer` serves a folder over aiohttp with a few scripted
misbehaviours; `S3Server` wraps moto's server mode, which s3fs talks to over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

HOST = "127.0.0.1"
STALL_PREFIX = "/stall/"
PRIVATE_PREFIX = "/private/"
DUMMY_KEY = "testing"
DUMMY_REGION = "us-east-1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.0
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

Request = tuple[str, str, str | None]  # (method, path, Range header or None)


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (e.g. for "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class HttpVideoServer:
    """Serves ``root`` at ``url`` with Range/HEAD support, a stalling and a private prefix.

    ``/<rel>`` serves ``root/<rel>`` (404 when missing); ``/stall/<rel>`` accepts and
    never answers, until the server stops; ``/private/<rel>`` serves ``root/<rel>`` and,
    when ``token`` is set, answers 403 without ``Authorization: Bearer <token>``.
    """

    def __init__(self, root: str | Path, token: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.token = token
        self.url = ""
        self._log: list[Request] = []
        self._log_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- request log -------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received so far, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the requests so far, so a test counts only its own fetches."""
        with self._log_lock:
            self._log.clear()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> HttpVideoServer:
        """Bind a free port and serve from a daemon thread; returns once it accepts."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))  # bound here, so the port cannot be taken before it serves
        self.url = f"http://{HOST}:{sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        ready = asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="HttpVideoServer", daemon=True
        )
        self._thread.start()
        ready.result(START_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """Shut down within STOP_TIMEOUT_S, waking stalled requests first."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> HttpVideoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short grace period: a stalled handler must not hold the shutdown for 60 s.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handling ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._log_lock:
            self._log.append((request.method, request.path, request.headers.get("Range")))
        path = request.path
        if path.startswith(STALL_PREFIX):
            return await self._stall(request)
        if path.startswith(PRIVATE_PREFIX):
            if self.token is not None and not self._authorized(request):
                raise web.HTTPForbidden(text="bad or missing bearer token")
            path = path[len(PRIVATE_PREFIX) - 1 :]
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        return web.FileResponse(self._file(path))

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _file(self, path: str) -> Path:
        """The file under root that ``path`` names; 404 for missing files and escapes."""
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            raise web.HTTPNotFound()
        return target

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        """Hold the request unanswered until stop, then drop the connection."""
        assert self._stopping is not None
        await self._stopping.wait()
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()


class S3Server:
    """moto's S3 (and IAM) on a free loopback port; credentials only via storage_options.

    moto keeps buckets and its credential check in process-global state that every
    server in the process shares: state is reset when the last live server stops, so
    the next test starts clean and nested servers (a test's own inside a module's) do
    not wipe each other. While any server has auth enabled, all of them check it.
    """

    _live = 0  # servers started and not yet stopped, in this process
    _live_lock = threading.Lock()

    def __init__(self) -> None:
        self.endpoint_url = ""
        self._server: Any = None
        self._auth_user: dict[str, str] | None = None

    def start(self) -> S3Server:
        """Start moto on an OS-chosen port (no race between choosing and binding)."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        with S3Server._live_lock:
            S3Server._live += 1
        return self

    def stop(self) -> None:
        """Switch auth back off, reset moto if this was the last live server, then stop."""
        if self._server is None:
            return
        self.disable_auth()
        with S3Server._live_lock:
            S3Server._live -= 1
            if S3Server._live == 0:
                self._moto_api("reset")
        self._server.stop()
        self._server = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------

    def storage_options(self) -> dict[str, str]:
        """Keyword arguments for s3fs.S3FileSystem with the dummy credentials."""
        return {"endpoint_url": self.endpoint_url, "key": DUMMY_KEY, "secret": DUMMY_KEY}

    def client(self, service: str = "s3", key: str = DUMMY_KEY, secret: str = DUMMY_KEY) -> Any:
        """A boto3 client for this server; explicit credentials, so no AWS_* env is read."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, region_name=DUMMY_REGION
        ).client(service, endpoint_url=self.endpoint_url)

    def upload(self, bucket: str, root: str | Path, prefix: str = "") -> list[str]:
        """Create ``bucket`` if missing and upload every file under ``root``; returns keys."""
        s3 = self.client(**self._credentials())
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        root = Path(root)
        keys = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(root).as_posix()
            s3.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys

    # -- authentication ----------------------------------------------------------------

    def enable_auth(self) -> dict[str, str]:
        """Make moto check credentials; returns storage_options of a user it accepts.

        Until disable_auth() or stop(), the dummy credentials get 403 (InvalidAccessKeyId)
        on every live server. moto cannot be given a chosen key, so an IAM user (with an
        allow-all policy) is created on first use.
        """
        if self._auth_user is None:
            self._auth_user = self._create_user()
        self._set_auth(0)
        return dict(self._auth_user)

    def disable_auth(self) -> None:
        """Accept any credentials again (moto's default)."""
        if self._auth_user is not None:
            self._set_auth(float("inf"))

    def _credentials(self) -> dict[str, str]:
        """The key and secret moto accepts now: the IAM user's once one exists."""
        user = self._auth_user or self.storage_options()
        return {"key": user["key"], "secret": user["secret"]}

    def _create_user(self) -> dict[str, str]:
        iam = self.client("iam")
        name = f"reader-{uuid.uuid4().hex[:8]}"  # unique: moto's IAM may outlive a server
        iam.create_user(UserName=name)
        # An inline policy: moto does not load AWS-managed ones unless told to by env.
        iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "endpoint_url": self.endpoint_url,
            "key": key["AccessKeyId"],
            "secret": key["SecretAccessKey"],
        }

    def _set_auth(self, no_auth_count: float) -> None:
        """moto checks credentials once it has served ``no_auth_count`` more requests."""
        self._moto_api("reset-auth", str(no_auth_count).encode())

    def _moto_api(self, action: str, body: bytes = b"") -> dict[str, Any]:
        # text/plain: urllib's default form type makes Flask swallow the body as a form.
        url = f"{self.endpoint_url}/moto-api/{action}"
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=START_TIMEOUT_S) as resp:
            return json.loads(resp.read() or b"{}")
