#!/usr/bin/env python3
"""Cross-shard atomicity stress: worker processes mix multi-shard commands and check, as they
go, invariants that hold only if every command is atomic. Needs only python3 and a running
server (shardis or redis-server):

    scripts/stress.py --port 6379 --seconds 60 --workers 12
    scripts/stress.py --port 6379 --check      # the invariants only (after kill -9 + restart)

Invariants (keys spread over the shards by their names):
- MSET of group g:* whole: an MGET of it never sees two values (torn).
- MULTI transfers between counters acct:*, and EVAL transfers: their total stays constant.
- WATCH/GET/MULTI/SET/EXEC increments of ctr: ctr = the number of EXECs that ran.
- RENAME ping-pong over rk:*: exactly one of them exists.
- LMOVE/BLMOVE/BRPOPLPUSH over l:*, SMOVE over s:*: the elements' total stays constant.
- MSETNX/DEL of group n:*: all set (to one value) or none.
- COPY of a hash rewritten whole in MULTI: the copy is never half old, half new.
- SUNIONSTORE of s:*: the union keeps every member.
Exit status 0: every check held; 3: an invariant broke (printed); 2: a worker failed.
"""
import argparse
import multiprocessing as mp
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn  # noqa: E402

G = ["g:%s" % x for x in "abcdefgh"]
ACCT = ["acct:%d" % i for i in range(8)]
LISTS = ["l:%d" % i for i in range(6)]
SETS = ["s:%d" % i for i in range(6)]
NX = ["n:%d" % i for i in range(6)]
RK = ["rk:a", "rk:b", "rk:c"]
TOTAL = 8 * 1000
MOVE = "redis.call('decrby',KEYS[1],ARGV[1]) return redis.call('incrby',KEYS[2],ARGV[1])"


class Broken(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Broken(repr(what))


def setup(c, elements):
    c.cmd("flushall")
    c.cmd("mset", *sum([[k, 1000] for k in ACCT], []))
    for i in range(elements):
        c.cmd("rpush", LISTS[i % len(LISTS)], "e%d" % i)
        c.cmd("sadd", SETS[i % len(SETS)], "m%d" % i)
    c.cmd("set", RK[0], "v")
    c.cmd("set", "ctr", 0)
    c.cmd("mset", *sum([[k, "0"] for k in G], []))


def total(c, keys, cmd):
    r = c.pipe([("multi",)] + [(cmd, k) for k in keys] + [("exec",)])[-1]
    return sum(r)


def invariants(c, elements):
    """The checks that hold at any moment (and after a crash with appendfsync always)."""
    r = c.cmd("mget", *ACCT)
    check(sum(int(x) for x in r) == TOTAL, ("accounts", r))
    check(total(c, LISTS, "llen") == elements, ("lists", elements))
    check(total(c, SETS, "scard") == elements, ("sets", elements))
    r = c.cmd("mget", *G)
    check(len(set(r)) == 1, ("torn group", r))
    r = c.cmd("mget", *NX)
    check(len(set(r)) == 1, ("msetnx", r))
    check(c.cmd("exists", *RK) == 1, "rename")


def step(c, rnd, wid, n, elements, state):
    op = rnd.randrange(12)
    v = "%d-%d" % (wid, n)
    if op == 0:
        r = c.pipe([("mset", *sum([[k, v] for k in G], [])), ("mget", *G)])
        check(r[0] == "OK", ("mset", r[0]))
        check(len(set(r[1])) == 1, ("torn group", r[1]))
    elif op == 1:
        a, b = rnd.sample(ACCT, 2)
        r = c.pipe([("multi",), ("decrby", a, 7), ("incrby", b, 7), ("exec",)])
        check(isinstance(r[3], list), ("transfer", r))
    elif op == 2:
        a, b = rnd.sample(ACCT, 2)
        r = c.cmd("eval", MOVE, 2, a, b, rnd.randrange(1, 20))
        check(not isinstance(r, Exception), ("eval", r))
    elif op == 3:
        c.cmd("watch", "ctr")
        cur = int(c.cmd("get", "ctr") or 0)
        r = c.pipe([("multi",), ("set", "ctr", cur + 1), ("exec",)])[-1]
        if isinstance(r, list):
            state["cas"] += 1
    elif op == 4:
        a, b = rnd.sample(RK, 2)
        c.cmd("rename", a, b)
        check(c.cmd("exists", *RK) == 1, "rename")
    elif op == 5:
        a, b = rnd.sample(LISTS, 2)
        move = [
            ("lmove", a, b, "LEFT", "RIGHT"),
            ("blmove", a, b, "RIGHT", "LEFT", "0.01"),
            ("brpoplpush", a, b, "0.01"),
        ][n % 3]
        c.cmd(*move)
        check(total(c, LISTS, "llen") == elements, "lists")
    elif op == 6:
        a, b = rnd.sample(SETS, 2)
        c.cmd("smove", a, b, "m%d" % rnd.randrange(max(elements, 1)))
        check(total(c, SETS, "scard") == elements, "sets")
    elif op == 7:
        dst = "union:%d" % wid
        r = c.pipe([("sunionstore", dst, *SETS), ("scard", dst)])
        check(r[1] == elements, ("sunionstore", r))
    elif op == 8:
        if rnd.random() < 0.5:
            c.cmd("msetnx", *sum([[k, v] for k in NX], []))
        else:
            c.cmd("del", *NX)
        r = c.cmd("mget", *NX)
        check(len(set(r)) == 1, ("msetnx", r))
    elif op == 9:
        if rnd.random() < 0.5:
            c.pipe([("multi",), ("hset", "hsrc", "a", v, "b", v), ("exec",)])
        else:
            dst = "hcopy:%d" % wid
            c.cmd("copy", "hsrc", dst, "replace")
            r = c.cmd("hmget", dst, "a", "b")
            check(r[0] == r[1], ("copy", r))
    elif op == 10:
        r = c.cmd("mget", *ACCT)
        check(sum(int(x) for x in r) == TOTAL, ("accounts", r))
    else:
        r = c.cmd("mget", *G)
        check(len(set(r)) == 1, ("torn group", r))


def worker(args, wid, out):
    rnd = random.Random(wid)
    state = {"cas": 0}
    n = 0
    try:
        c = Conn(args.port)
        end = time.time() + args.seconds
        while time.time() < end:
            n += 1
            step(c, rnd, wid, n, args.elements, state)
        out.put(("ok", n, state["cas"]))
    except Broken as e:
        out.put(("broken", n, str(e)))
    except Exception as e:  # a failed worker is reported, not an invariant
        out.put(("failed", n, "%s: %s" % (type(e).__name__, e)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--elements", type=int, default=5,
                   help="list and set elements in all (few: moves often block)")
    p.add_argument("--check", action="store_true", help="only check the invariants")
    p.add_argument("--no-setup", action="store_true", help="keep the data already there")
    args = p.parse_args()
    c = Conn(args.port)
    if args.check:
        try:
            invariants(c, args.elements)
        except Broken as e:
            print("INVARIANT BROKEN:", e)
            return 3
        print("invariants hold")
        return 0
    if not args.no_setup:
        setup(c, args.elements)
    ctr0 = int(c.cmd("get", "ctr") or 0)
    out = mp.Queue()
    procs = [mp.Process(target=worker, args=(args, i, out)) for i in range(args.workers)]
    for pr in procs:
        pr.start()
    results = [out.get(timeout=args.seconds + 120) for _ in procs]
    for pr in procs:
        pr.join()
    status = 0
    for kind, _, what in results:
        if kind == "broken":
            print("INVARIANT BROKEN:", what)
            status = 3
        elif kind == "failed" and status == 0:
            print("worker failed:", what)
            status = 2
    if status == 0:
        try:
            cas = sum(r[2] for r in results)
            ctr = int(c.cmd("get", "ctr")) - ctr0
            check(ctr == cas, ("watched increments", ctr, cas))
            invariants(c, args.elements)
        except Broken as e:
            print("INVARIANT BROKEN:", e)
            return 3
        ops = sum(r[1] for r in results)
        print("invariants held over %d commands' steps (%d watched increments)" % (ops, cas))
    return status


if __name__ == "__main__":
    sys.exit(main())
