"""Run the server in a background thread of this process (tests, benchmarks, notebooks): uvicorn on loopback.

>>> # with serve_in_thread(create_app(ServeCfg(bundle=Path("runs/m"))), free_port()) as url: ...
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from starlette.types import ASGIApp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``host:port`` in a daemon thread until the block ends; yields the base URL.

    Raises:
        RuntimeError: the server did not start within ``timeout`` seconds (the port is taken, say).
    """
    import uvicorn  # the web extra: only where a server runs

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - t0 > timeout:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
