"""A TCP proxy on loopback that a test can switch off and on, to take a server away."""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType
from typing import Self


class SwitchableProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; :meth:`down` refuses and cuts connections.

    While down, every new connection is reset as soon as it is made and every connection open
    through the proxy is cut: a server gone. The port stays bound all along (closing it would
    let another process on a busy machine take it, and the proxy could not come back).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._forwarding = False
        self._accepting: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Accept and forward connections."""
        self._forwarding = True
        if self._accepting is None:
            self._accepting = threading.Thread(target=self._accept, daemon=True)
            self._accepting.start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._forwarding = False
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def close(self) -> None:
        """Stop for good: the port is given back."""
        self.down()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._forwarding:  # down: reset at once, as a port nobody serves
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in selector.select(timeout=1.0):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                if client.fileno() < 0 or upstream.fileno() < 0:
                    return
        except OSError:
            return
        finally:
            selector.close()
            with self._lock:
                self._connections.discard(client)
                self._connections.discard(upstream)
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.close()
