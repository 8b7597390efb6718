"""Differential fuzzer: raw HTTP/1.1 requests, generated and mutated by hypothesis, go to a running Unicorn
and to h11 (the reference parser); every disagreement must be one of the deliberate differences listed in
DIFFERENCES.md (whose table this script reads to classify), else the run fails and prints it.

    /usr/bin/python3 test/fuzz/fuzz_http.py --port PORT [--examples N] [--seed S] [--report FILE] [--asgi]

The server must run test/fixtures/apps/conformance_app:app (it answers with the method, target and body
it saw, as JSON). Each request is sent on its own connection, which is then half-closed; Unicorn's
verdict is "accept" (a 2xx from the app: method, target and body compared with h11's), "reject" (an
error status) or "incomplete" (closed without an answer: the request never ended). h11 gets the same
bytes: Request + Data + EndOfMessage is "accept", RemoteProtocolError "reject", NEED_DATA "incomplete".
With --asgi the server runs conformance_app:asgi_app, whose RAW_URI comes from the ASGI scope's raw_path
and query_string: h11's target is reduced the same way (an absolute-form target to its path and query,
an empty query "/?" to "/": the scope cannot tell it from none).
"""

import argparse
import json
import os
import re
import socket
import sys

import tempfile

# hypothesis keeps a directory of its own: a temporary one, not the checkout.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "unicorn-fuzz-hypothesis"))

import h11  # noqa: E402
from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFERENCES = os.path.join(HERE, "DIFFERENCES.md")

# -- request generation ---------------------------------------------------------------------------

def mostly(valid, odd, weight=6):
    """Valid values `weight` times as likely as each odd one: most requests differ from a good one in one place."""
    return st.sampled_from(list(valid) * weight + list(odd))


METHODS = mostly([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"PROPFIND"],
                 [b"get", b"Post", b"-bl", b"GE", b"M#M", b"G(T", b"", b"GET ", b"X" * 21, b"GET\t", b"CONNECT"])
TARGETS = mostly([b"/", b"/a/b?x=1", b"/%41%20b", b"//x//y", b"/a#frag", b"/?", b"/a?b?c", b"http://h.test/p?q=1"],
                 [b"*", b"http://h.test", b"h.test:443", b"[::1]:443", b"a/b", b"", b"/a b", b"/\x7f", b"http:///x",
                  b"/\xff", b"/a\tb"])
VERSIONS = mostly([b"HTTP/1.1"] * 4 + [b"HTTP/1.0"], [b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.10", b"http/1.1",
                                                     b"HTTP/1", b"HTTP/1.1 ", b""])
NAMES = mostly([b"X-A", b"X-B", b"Accept", b"User-Agent", b"Cookie", b"Connection"],
               [b"Content-Type", b"Host", b"X_Under", b"X-A ", b" X-A", b"X A", b"", b"X-\x01", b"Trailer", b"Expect"], 3)
VALUES = mostly([b"1", b"a b", b"a\tb", b" padded ", b"", b"close", b"keep-alive", b"\xe9"],
                [b"a\x00b", b"a\rb", b"a\x7fb", b"a\x01b", b"100-continue"], 3)
TE_VALUES = mostly([b"chunked", b"gzip, chunked", b"identity, chunked", b"Chunked", b" chunked "],
                   [b"chunked, gzip", b"gzip", b"identity", b"chunked, chunked", b"br, chunked", b"xchunked", b"",
                    b"chunked;q=1", b"deflate,chunked", b"gzip,, chunked"], 2)
CL_VALUES = mostly([b"0", b"3", b"5", b"10"], [b"+3", b"-1", b"3, 3", b"0x3", b" 5 ", b"", b"99999999999999999999", b"05"], 2)


@st.composite
def chunked_body(draw):
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        data = draw(st.binary(min_size=1, max_size=12))
        n = len(data)
        size = draw(mostly([b"%x" % n, b"%X" % n, b"%x;e=1" % n],
                           [b"0%x" % n, b"%x " % n, b" %x" % n, b"%x ;e" % n, b"%x;\x00" % n, b"%x" % (n + 1),
                            b"%x" % max(0, n - 1), b"0x%x" % n, b"%x;a\rb" % n, b"1%016x" % n]))
        end = draw(mostly([b"\r\n"], [b"\n", b"", b"XX", b"\r"], 12))
        parts.append(size + b"\r\n" + data + end)
    last = draw(mostly([b"0", b"000"], [b"0 ", b"0;x=y", b"0\t"]))
    trailers = draw(st.lists(mostly([b"X-T: 1", b"X-Sum: abc"],
                                    [b"Content-Length: 5", b"Host: e", b"X T: 1", b" folded", b"Authorization: x",
                                     b"Transfer-Encoding: chunked", b"X-Sum: \x01", b"Trailer: x"], 2), max_size=2))
    final = draw(mostly([b"\r\n"], [b"", b"\n"], 10))
    return b"".join(parts) + last + b"\r\n" + b"".join(t + b"\r\n" for t in trailers) + final


@st.composite
def requests(draw):
    method = draw(METHODS)
    line_sep = draw(mostly([b" "], [b"  ", b"\t"], 20))
    line = method + line_sep + draw(TARGETS) + b" " + draw(VERSIONS)
    headers = []
    if draw(st.integers(0, 15)):
        headers.append((b"Host", draw(mostly([b"h.test"], [b"", b"a b", b"h.test:80"], 10))))
    for _ in range(draw(st.integers(0, 3))):
        headers.append((draw(NAMES), draw(VALUES)))
    body = b""
    framing = draw(st.sampled_from(["none", "length", "length", "chunked", "chunked", "chunked", "both"]))
    if framing in ("length", "both"):
        data = draw(st.binary(max_size=10))
        cl = draw(mostly([b"%d" % len(data)], [None], 8))
        headers.append((b"Content-Length", cl if cl is not None else draw(CL_VALUES)))
        if draw(st.integers(0, 8)) == 0:
            headers.append((b"Content-Length", draw(CL_VALUES)))
        body = data
    if framing in ("chunked", "both"):
        headers.append((b"Transfer-Encoding", draw(TE_VALUES)))
        if draw(st.integers(0, 8)) == 0:
            headers.append((b"Transfer-Encoding", draw(TE_VALUES)))
        body = draw(chunked_body())
    headers = draw(st.permutations(headers))
    sep = mostly([b" ", b""], [b"\t", b"  "])
    head = line + b"\r\n" + b"".join(n + b":" + draw(sep) + v + b"\r\n" for n, v in headers)
    if draw(st.integers(0, 15)) == 0:
        head = draw(st.sampled_from([b"\r\n", b"\r\n\r\n", b"\n"])) + head
    raw = head + b"\r\n" + body
    if draw(st.integers(0, 5)) == 0:
        raw += draw(st.sampled_from([b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", b"0\r\n\r\n", b"x"]))
    # Byte-level mutations where framing is decided: CR, LF, NUL, SP, HTAB, ':' and friends.
    for _ in range(draw(st.sampled_from([0] * 6 + [1, 1, 2]))):
        at = draw(st.integers(0, len(raw)))
        what = draw(st.sampled_from([b"\r", b"\n", b"\x00", b" ", b"\t", b":", b"\x7f", b"\r\n", b"\r\n ", b""]))
        cut = draw(st.integers(0, 1))
        raw = raw[:at] + what + raw[at + cut:]
    return raw


# -- the two parsers ------------------------------------------------------------------------------

class Verdict(object):
    __slots__ = ("kind", "method", "target", "body", "why")

    def __init__(self, kind, method=None, target=None, body=None, why=""):
        self.kind, self.method, self.target, self.body, self.why = kind, method, target, body, why

    def __repr__(self):
        if self.kind == "accept":
            return "accept %r %r body=%r" % (self.method, self.target, self.body)
        return "%s (%s)" % (self.kind, self.why)


def unicorn(port, raw, timeout=10.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    answer = b"".join(chunks)
    if not answer:
        return Verdict("incomplete", why="closed without an answer")
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status >= 400:
        detail = body.decode("utf-8", "replace").split("\n")[1:2]
        return Verdict("reject", why="%d %s" % (status, detail[0] if detail else ""))
    length = re.search(rb"\r\ncontent-length: *([0-9]+)", head, re.I)
    if length is not None:  # (a keep-alive worker may have answered a pipelined request after it)
        body = body[:int(length.group(1))]
    seen = json.loads(body.decode("ascii"))
    return Verdict("accept", seen["REQUEST_METHOD"].encode("latin-1"), seen["RAW_URI"].encode("latin-1"),
                   seen["body"].encode("latin-1"))


def reference(raw):
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    request, body = None, []
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return Verdict("accept", request.method, request.target, b"".join(body))
            elif event is h11.NEED_DATA:
                return Verdict("incomplete", why="h11 needs more data")
            else:
                return Verdict("incomplete", why="h11 event %r" % (event,))
    except h11.RemoteProtocolError as exc:
        return Verdict("reject", why="%d %s" % (exc.error_status_hint, exc))


# -- deliberate differences -----------------------------------------------------------------------

def load_differences(path=DIFFERENCES):
    """The table's rows: (id, compiled pattern). A row's pattern matches the disagreement's summary line."""
    rows = []
    for line in open(path, encoding="utf-8"):
        # Cells split at unescaped pipes; a pattern's \| is markdown's escape for the regex alternation |.
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) >= 5 and re.match(r"^[a-z0-9-]+$", cells[0]) and cells[0] != "id":
            pattern = cells[3].strip("`").replace("\\|", "|")
            rows.append((cells[0], re.compile(pattern, re.S)))
    if not rows:
        raise SystemExit("no differences table found in %s" % path)
    return rows


def summary(raw, mine, theirs):
    return "unicorn: %r | h11: %r | request: %r" % (mine, theirs, raw)


_ABSOLUTE = re.compile(rb"(?i)https?://[^/?]*")


def agree(mine, theirs, asgi=False):
    if mine.kind != theirs.kind:
        return False
    if mine.kind != "accept":
        return True
    target = theirs.target
    if asgi:
        m = _ABSOLUTE.match(target)
        if m:
            target = target[m.end():]
        path, sep, query = target.partition(b"?")
        if sep and not query:
            target = path
    return (mine.method, mine.target, mine.body) == (theirs.method, target, theirs.body)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--report", help="write the disagreements, classified, as JSON lines")
    ap.add_argument("--asgi", action="store_true", help="the server runs the ASGI twin (see above)")
    args = ap.parse_args(argv)
    table = load_differences()
    counts = {"examples": 0, "agree": 0, "deliberate": 0, "unexplained": 0}
    distinct = set()
    verdicts = {}
    by_id = dict((row_id, 0) for row_id, _ in table)
    unexplained = []
    report = open(args.report, "w") if args.report else None

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def check(raw):
        counts["examples"] += 1
        distinct.add(raw)
        mine, theirs = unicorn(args.port, raw), reference(raw)
        key = "unicorn %s / h11 %s" % (mine.kind, theirs.kind)
        verdicts[key] = verdicts.get(key, 0) + 1
        if agree(mine, theirs, args.asgi):
            counts["agree"] += 1
            return
        line = summary(raw, mine, theirs)
        for row_id, pattern in table:
            if pattern.search(line):
                counts["deliberate"] += 1
                by_id[row_id] += 1
                if report:
                    report.write(json.dumps({"id": row_id, "case": line}) + "\n")
                return
        counts["unexplained"] += 1
        unexplained.append(line)
        if report:
            report.write(json.dumps({"id": None, "case": line}) + "\n")

    check()
    if report:
        report.close()
    counts["distinct"] = len(distinct)
    print("examples: %(examples)d (%(distinct)d distinct), agreed: %(agree)d, deliberate differences: "
          "%(deliberate)d, unexplained: %(unexplained)d" % counts)
    print("verdicts: " + ", ".join("%s: %d" % kv for kv in sorted(verdicts.items())))
    for row_id, n in sorted(by_id.items(), key=lambda kv: -kv[1]):
        if n:
            print("  %-36s %d" % (row_id, n))
    for line in unexplained[:30]:
        print("UNEXPLAINED " + line)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
