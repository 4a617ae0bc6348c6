"""Reads a callgrind dump of 4,000 requests (see bench/callgrind.sh).

    python3 bench/callgrind-dump.py locked DUMP SERVER
        locked instructions per request (the dump made with
        --dump-instr=yes), and the functions with most
    python3 bench/callgrind-dump.py calls DUMP SERVER NAME
        calls per request to functions whose name contains NAME, in total
        and by caller
"""

import collections
import re
import subprocess
import sys

REQUESTS = 4000


class Names:
    """Callgrind's name compression: `(id) name` the first time, `(id)` after."""

    def __init__(self):
        self.table = {}

    def __call__(self, s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s.strip())
        if not m:
            return s.strip()
        if m.group(2):
            self.table[m.group(1)] = m.group(2)
        return self.table.get(m.group(1), m.group(1))


def locked(dump, server):
    names, objects = Names(), Names()
    # Instructions executed per (object, address), leaving out the lines
    # that give a call's inclusive cost.
    cost, where = collections.Counter(), {}
    ob = fn = None
    addr, call = 0, False
    for line in open(dump):
        line = line.rstrip("\n")
        if line.startswith(("ob=", "cob=")):
            o = objects(line.split("=", 1)[1])
            ob = o if line.startswith("ob=") else ob
            continue
        if line.startswith(("fn=", "cfn=")):
            f = names(line.split("=", 1)[1])
            fn = f if line.startswith("fn=") else fn
            continue
        if line.startswith("calls="):
            call = True
            continue
        if not line or line[0] not in "0123456789+-*":
            continue
        parts = line.split()
        pos = parts[0]
        if pos.startswith("0x"):
            addr = int(pos, 16)
        elif pos[0] in "+-":
            addr += int(pos, 0)
        if call:
            call = False
            continue
        if len(parts) >= 3:
            cost[(ob, addr)] += int(parts[2])
            where[(ob, addr)] = fn
    locked = set()
    for ob in {o for o, _ in cost if o and o.startswith("/")}:
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", ob], capture_output=True, text=True).stdout
        for l in out.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s+(lock |xchg\s+\S*\()", l)
            if m:
                locked.add((ob, int(m.group(1), 16)))
    per, total = collections.Counter(), 0
    for key, n in cost.items():
        if key in locked:
            total += n
            per[where[key] or "?"] += n
    print(f"{server}: {total / REQUESTS:.1f} locked instructions per request")
    for f, n in per.most_common(10):
        print(f"  {n / REQUESTS:5.2f}  {f[:110]}")


def calls(dump, server, pattern):
    names = Names()
    by_caller = collections.Counter()
    fn = callee = None
    for line in open(dump):
        if line.startswith("fn="):
            fn = names(line[3:])
        elif line.startswith("cfn="):
            callee = names(line[4:])
        elif line.startswith("calls=") and callee and pattern in callee:
            by_caller[fn] += int(line[6:].split()[0])
    total = sum(by_caller.values())
    print(f"{server}: {total / REQUESTS:.2f} calls to *{pattern}* per request")
    for f, n in by_caller.most_common(8):
        print(f"  {n / REQUESTS:5.2f}  {f[:110]}")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"locked": locked, "calls": calls}[what](*args)
