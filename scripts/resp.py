"""A minimal RESP2 client for the scripts here (python3 only, no packages): commands out,
replies in, pipelines. An error reply comes back as a RuntimeError value, not raised, so that
a pipeline's other replies are still read."""
import socket


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(f):
    """One reply from a buffered reader (`socket.makefile("rb")`)."""
    line = f.readline()
    if not line:
        raise EOFError("server closed the connection")
    line = line.rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        return RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise ValueError("bad reply line %r" % line)


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.s = socket.create_connection((host, port))
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rb")

    def pipe(self, cmds):
        self.s.sendall(b"".join(encode(*c) for c in cmds))
        return [read_reply(self.f) for _ in cmds]

    def cmd(self, *args):
        return self.pipe([args])[0]
