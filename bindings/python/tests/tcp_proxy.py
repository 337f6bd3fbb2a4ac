"""A small TCP proxy for fault tests: it sits between the pool and the real
server and can misbehave on command.

    proxy = TCPProxy(target_host, target_port)   # listens on 127.0.0.1:<free port>
    proxy.port                                   # where to point the pool
    proxy.stall()       # stop forwarding bytes (both directions, live and new
                        # connections); every socket stays open
    proxy.blackhole()   # accept new connections and never answer them (no
                        # upstream connection is made); live ones keep working
    proxy.cut()         # kill every live connection at once: shutdown (FIN), then
                        # close with SO_LINGER 0 (RST), towards both ends
    proxy.resume()      # forward again (held bytes are delivered); black-holed
                        # connections are closed, as they were never served
    proxy.close()       # stop listening and abort everything

Pure Python, one thread to accept and two per connection (one per
direction). Only the test talks to it, so the connection counts are small.
"""

import socket
import struct
import threading

_CHUNK = 65536
_POLL = 0.05  # seconds between looks at the stall switch / shutdown flag


def _abort(sock):
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pair:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.dead = False
        self.running = 2  # relay threads still using the sockets
        self.bytes_up = 0
        self.bytes_down = 0

    def start(self):
        for source, dest, up in ((self.client, self.upstream, True), (self.upstream, self.client, False)):
            threading.Thread(target=self._relay, args=(source, dest, up), daemon=True,
                             name=f"tcp-proxy-{'up' if up else 'down'}").start()

    def kill(self):
        """Wake both relay threads; the last one to leave closes the sockets
        with an RST (closing here could hand their fd numbers to other
        sockets while they still use them)."""
        with self.lock:
            if self.dead:
                return
            self.dead = True
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _relay(self, source, dest, up):
        try:
            while not self.dead:
                try:
                    data = source.recv(_CHUNK)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                # Stalled: hold the bytes (the sockets stay open) until resumed or killed.
                while not self.proxy._flowing.wait(_POLL):
                    if self.dead:
                        break
                if self.dead:
                    break
                try:
                    dest.sendall(data)
                except OSError:
                    break
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
        finally:
            # One end went away (or we were cut): the other end is told too.
            self.kill()
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                _abort(self.client)
                _abort(self.upstream)
                self.proxy._forget(self)


class TCPProxy:
    def __init__(self, target_host, target_port, listen_host="127.0.0.1"):
        self.target = (target_host, int(target_port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))
        self._listener.listen(128)
        self._listener.settimeout(_POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._pairs = set()
        self._held = []  # black-holed client sockets
        self._flowing = threading.Event()
        self._flowing.set()
        self._blackhole = False
        self._closed = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="tcp-proxy-accept")
        self._thread.start()

    # -- switches ------------------------------------------------------------

    def stall(self):
        """Stop forwarding in both directions; sockets stay open."""
        self._flowing.clear()

    def blackhole(self):
        """New connections are accepted and never answered."""
        with self._lock:
            self._blackhole = True

    def cut(self):
        """Abort every live proxied connection (held black-holed ones too)."""
        with self._lock:
            pairs = list(self._pairs)
            held, self._held = self._held, []
        for pair in pairs:
            pair.kill()
        for sock in held:
            _abort(sock)
        return len(pairs) + len(held)

    def resume(self):
        """Back to normal forwarding; black-holed connections are closed."""
        with self._lock:
            self._blackhole = False
            held, self._held = self._held, []
        for sock in held:
            _abort(sock)
        self._flowing.set()

    def close(self):
        with self._lock:
            self._closed = True
        self._thread.join(5)
        self._listener.close()
        self.cut()
        self._flowing.set()

    @property
    def live_connections(self):
        with self._lock:
            return len(self._pairs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -------------------------------------------------------------

    def _forget(self, pair):
        with self._lock:
            self._pairs.discard(pair)

    def _accept_loop(self):
        while True:
            with self._lock:
                if self._closed:
                    return
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                if self._closed:
                    _abort(client)
                    return
                if self._blackhole:
                    self._held.append(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _abort(client)  # server down: refuse as a dead server would (RST)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(self, client, upstream)
            with self._lock:
                if self._closed:
                    _abort(client)
                    _abort(upstream)
                    return
                self._pairs.add(pair)
            pair.start()
