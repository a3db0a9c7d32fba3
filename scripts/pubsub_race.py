#!/usr/bin/env python3
"""Does a PUBLISH count a subscriber that left just before it, on another connection?

Redis answers such a PUBLISH with 0: its one event loop serves input in arrival order. Each try
opens a subscriber, has it leave, and at once PUBLISHes on a second connection; a count other
than 0 is a wrong count. Modes:
  unsubscribe  subscriber sends UNSUBSCRIBE without reading the reply (Redis's pub/sub units)
  hangup       subscriber closes its socket right after the SUBSCRIBE confirmation
  stream       as unsubscribe, while a third connection publishes to the channel nonstop
               (the subscriber reads two messages first)

Usage: scripts/pubsub_race.py PORT [MODE] [TRIES]     (python3 only)
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import encode as cmd  # noqa: E402


def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until(s, pred):
    buf = b""
    while not pred(buf):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("pubsub_race.py: server closed the connection")
        buf += chunk
    return buf


def streamer(port, stop):
    s = conn(port)
    burst = cmd("PUBLISH", "chan", "x" * 200) * 32

    def drain():
        while not stop.is_set():
            try:
                if not s.recv(65536):
                    return
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    while not stop.is_set():
        s.sendall(burst)
        time.sleep(0.0002)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "unsubscribe"
    tries = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    if mode not in ("unsubscribe", "hangup", "stream"):
        sys.exit(f"pubsub_race.py: unknown mode {mode}")
    stop = threading.Event()
    if mode == "stream":
        threading.Thread(target=streamer, args=(port, stop), daemon=True).start()
    pub = conn(port)
    wrong = 0
    for _ in range(tries):
        sub = conn(port)
        sub.sendall(cmd("SUBSCRIBE", "chan"))
        if mode == "stream":
            read_until(sub, lambda b: b.count(b"message") >= 3)
        else:
            read_until(sub, lambda b: b.count(b"\r\n") >= 6)
        if mode == "hangup":
            sub.close()
        else:
            sub.sendall(cmd("UNSUBSCRIBE"))
        pub.sendall(cmd("PUBLISH", "chan", "hello"))
        if read_until(pub, lambda b: b.endswith(b"\r\n")) != b":0\r\n":
            wrong += 1
        sub.close()
    stop.set()
    print(f"{mode}: {wrong} wrong counts in {tries} tries")


if __name__ == "__main__":
    main()
