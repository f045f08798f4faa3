#!/usr/bin/env python3
"""Readiness probes for the local stack, stdlib only.

    probe.py kafka HOST:PORT          Kafka answers ApiVersions and a Metadata request
                                      that lists at least one broker.
    probe.py cql HOST:PORT            Cassandra answers a CQL v4 STARTUP with READY
                                      (or AUTHENTICATE: it serves, but wants a login).
    probe.py registry HOST:PORT       the schema registry (Apicurio) answers GET
                                      /apis/ccompat/v7/subjects (Confluent's API) with 200
                                      and a JSON list.
    probe.py cql HOST:PORT -e STMT    ... then runs STMT and prints the rows of the first
                                      column, or the result kind (-e again: more statements;
                                      -e - reads them from stdin, one per line).

    --tls CA                          speak TLS, checking the server's certificate against
                                      the CA file and the address's host (name or IP)
    --cert CRT --key KEY              with --tls: present this client certificate (a server
                                      with require_client_auth wants one)
    --user U --password-file F        cql: log in (PasswordAuthenticator) before -e
    --sasl                            kafka: the listener wants SASL, so instead of Metadata
                                      (which needs a login) check that it offers a mechanism

Exit 0 when the service serves, 1 when it does not (reason on stderr), 2 on bad usage.
An open TCP port is not enough: a JVM binds its ports long before it can answer,
so each probe speaks the real protocol and checks the reply.
"""

import argparse
import http.client
import json
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.request


class ProbeError(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def connect(addr, timeout, ca=None, client=None):
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"probe: bad address {addr!r}, want HOST:PORT")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as e:
        raise ProbeError(f"cannot connect to {addr}: {e}") from e
    sock.settimeout(timeout)
    if ca:
        try:
            context = ssl.create_default_context(cafile=ca)
            if client:
                context.load_cert_chain(*client)
            sock = context.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, OSError) as e:
            sock.close()
            raise ProbeError(f"TLS with {addr} failed: {e}") from e
    return sock


# ---------------------------------------------------------------- Kafka

def kafka_string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProbeError("reply too short")
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals[0] if len(vals) == 1 else vals

    def kstring(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode(errors="replace")
        self.pos += n
        return s


def kafka_call(sock, api_key, api_version, correlation_id, body):
    # Request header v1: api_key, api_version, correlation_id, client_id (non-flexible).
    req = struct.pack(">hhi", api_key, api_version, correlation_id) + kafka_string("rtds-probe") + body
    sock.sendall(struct.pack(">i", len(req)) + req)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    if size < 4 or size > 64 * 1024 * 1024:
        raise ProbeError(f"implausible reply size {size}: not a Kafka broker?")
    reply = Reader(recv_exact(sock, size))
    got = reply.take(">i")
    if got != correlation_id:
        raise ProbeError(f"correlation id {got} != {correlation_id}: not a Kafka broker?")
    return reply


def probe_kafka(addr, timeout, ca=None, sasl=False):
    with connect(addr, timeout, ca) as sock:
        # ApiVersions v0 (api key 18): every Kafka version since 0.10 answers it.
        r = kafka_call(sock, 18, 0, 0x5EED01, b"")
        err = r.take(">h")
        if err != 0:
            raise ProbeError(f"ApiVersions error code {err}")
        if sasl:
            # SaslHandshake v1 (api key 17): the broker lists its mechanisms. The
            # broker processes requests only once it has started, so an answer here
            # means it serves.
            r = kafka_call(sock, 17, 1, 0x5EED03, kafka_string("SCRAM-SHA-512"))
            err = r.take(">h")
            mechanisms = [r.kstring() for _ in range(r.take(">i"))]
            if err != 0:
                raise ProbeError(f"SaslHandshake error code {err}; mechanisms {mechanisms}")
            return f"kafka serving (SASL: {', '.join(mechanisms)})"
        # Metadata v4 (api key 3): Kafka 4 dropped v0-v3. Body: topics = null (all),
        # allow_auto_topic_creation = false. The broker is usable once it lists itself.
        r = kafka_call(sock, 3, 4, 0x5EED02, struct.pack(">ib", -1, 0))
        r.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(r.take(">i")):
            node_id = r.take(">i")
            host = r.kstring()
            port = r.take(">i")
            r.kstring()  # rack
            brokers.append(f"{node_id}@{host}:{port}")
        cluster_id = r.kstring()
        if not brokers:
            raise ProbeError("Metadata lists no broker yet")
        return f"kafka serving: cluster {cluster_id}, brokers {', '.join(brokers)}"


# ---------------------------------------------------------------- CQL

CQL_V4 = 0x04
OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x03, 0x07, 0x08
OP_AUTH_CHALLENGE, OP_AUTH_RESPONSE, OP_AUTH_SUCCESS = 0x0E, 0x0F, 0x10


def cql_string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def cql_call(sock, stream, opcode, body):
    sock.sendall(struct.pack(">BBhBi", CQL_V4, 0, stream, opcode, len(body)) + body)
    version, _flags, got_stream, op, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    if version & 0x7F != CQL_V4 or not version & 0x80:
        raise ProbeError(f"reply version byte 0x{version:02x}: not a CQL v4 server?")
    if got_stream != stream:
        raise ProbeError(f"reply stream {got_stream} != {stream}")
    return op, recv_exact(sock, length)


def cql_error(body):
    code, n = struct.unpack_from(">iH", body)
    return f"CQL error 0x{code:04x}: {body[6:6 + n].decode(errors='replace')}"


def cql_rows(body):
    """First column of a Rows result, as text (strings decoded, other types in hex)."""
    r = Reader(body)
    r.take(">i")  # kind
    flags, ncols = r.take(">ii")
    if flags & 0x0002:  # has_more_pages: skip the paging state
        n = r.take(">i")
        r.pos += max(n, 0)
    if flags & 0x0004:  # no_metadata
        raise ProbeError("rows without metadata")
    global_spec = flags & 0x0001
    if global_spec:
        r.kstring(), r.kstring()
    types = []
    for _ in range(ncols):
        if not global_spec:
            r.kstring(), r.kstring()
        r.kstring()  # column name
        type_id = r.take(">H")
        if type_id == 0x0000:  # custom: class name follows
            r.kstring()
        elif type_id in (0x0020, 0x0022):  # list, set: one element type
            r.take(">H")
        elif type_id == 0x0021:  # map: two element types
            r.take(">HH")
        elif type_id > 0x0021:
            raise ProbeError("complex column types are not supported by this probe")
        types.append(type_id)
    out = []
    for _ in range(r.take(">i")):
        for col in range(ncols):
            n = r.take(">i")
            val = r.data[r.pos:r.pos + max(n, 0)]
            r.pos += max(n, 0)
            if col == 0:
                if n < 0:
                    out.append("null")
                elif types[0] in (0x0001, 0x000A, 0x000D):  # ascii, text, varchar
                    out.append(val.decode(errors="replace"))
                else:
                    out.append("0x" + val.hex())
    return out


def probe_cql(addr, timeout, statements=(), ca=None, login=None, client=None):
    with connect(addr, timeout, ca, client) as sock:
        body = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
        op, reply = cql_call(sock, 1, OP_STARTUP, body)
        if op == OP_AUTHENTICATE:
            if not login:
                if statements:
                    raise ProbeError("server wants a login (--user, --password-file)")
                return "cql serving (authentication required)"
            # SASL PLAIN, as PasswordAuthenticator takes it: \0user\0password.
            token = b"\0" + login[0].encode() + b"\0" + login[1].encode()
            op, reply = cql_call(sock, 2, OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token)
            if op == OP_ERROR:
                raise ProbeError(cql_error(reply))
            if op != OP_AUTH_SUCCESS:
                raise ProbeError(f"unexpected opcode 0x{op:02x} after AUTH_RESPONSE")
        elif op == OP_ERROR:
            raise ProbeError(cql_error(reply))
        elif op != OP_READY:
            raise ProbeError(f"unexpected opcode 0x{op:02x} after STARTUP")
        if not statements:
            return "cql serving (READY)" if not login else "cql serving (logged in)"
        out = []
        for n, statement in enumerate(statements):
            # QUERY: long string, consistency ONE, flags 0.
            stmt = statement.encode()
            body = struct.pack(">i", len(stmt)) + stmt + struct.pack(">HB", 0x0001, 0)
            op, reply = cql_call(sock, 3 + n, OP_QUERY, body)
            if op == OP_ERROR:
                raise ProbeError(cql_error(reply))
            if op != OP_RESULT:
                raise ProbeError(f"unexpected opcode 0x{op:02x} after QUERY")
            kind = struct.unpack_from(">i", reply)[0]
            if kind == 0x0002:
                out.extend(cql_rows(reply))
            else:
                out.append({0x0001: "OK (void)", 0x0003: "OK (set keyspace)",
                            0x0005: "OK (schema change)"}.get(kind, f"OK (result kind {kind})"))
        return "\n".join(out)


def probe_registry(addr, timeout):
    url = f"http://{addr}/apis/ccompat/v7/subjects"
    # No proxy: the registry is on this machine, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            subjects = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise ProbeError(f"GET {url}: HTTP {e.code}")
    except http.client.HTTPException as e:
        raise ProbeError(f"GET {url}: {e!r}")
    except ValueError as e:
        raise ProbeError(f"GET {url}: not JSON: {e}")
    if not isinstance(subjects, list):
        raise ProbeError(f"GET {url}: not a list of subjects")
    return f"OK: {len(subjects)} subjects"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("service", choices=["kafka", "cql", "registry"])
    ap.add_argument("addr", metavar="HOST:PORT")
    ap.add_argument("-e", "--execute", metavar="STMT", action="append", default=[],
                    help="cql only: run this statement after STARTUP (repeatable)")
    ap.add_argument("--tls", metavar="CA", help="speak TLS, trusting this CA file")
    ap.add_argument("--cert", help="with --tls: the client certificate to present (PEM)")
    ap.add_argument("--key", help="with --tls: the client certificate's key (PEM)")
    ap.add_argument("--user", help="cql only: log in as this role")
    ap.add_argument("--password-file", metavar="FILE", help="cql only: the role's password")
    ap.add_argument("--sasl", action="store_true", help="kafka only: the listener wants SASL")
    ap.add_argument("-t", "--timeout", type=float, default=5.0, help="socket timeout in seconds (default 5)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args()
    if (args.execute or args.user) and args.service != "cql":
        ap.error("--execute and --user are for cql only")
    if bool(args.user) != bool(args.password_file):
        ap.error("--user and --password-file go together")
    if bool(args.cert) != bool(args.key) or (args.cert and not args.tls):
        ap.error("--cert and --key go together, with --tls")
    client = (args.cert, args.key) if args.cert else None
    if args.execute == ["-"]:  # statements on stdin, one per line: secrets stay off argv
        args.execute = [line.strip() for line in sys.stdin if line.strip()]
    login = None
    if args.user:
        with open(args.password_file) as f:
            login = (args.user, f.read().rstrip("\n"))
    try:
        if args.service == "kafka":
            msg = probe_kafka(args.addr, args.timeout, args.tls, args.sasl)
        elif args.service == "registry":
            if args.tls or args.sasl:
                ap.error("--tls and --sasl are not for the registry")
            msg = probe_registry(args.addr, args.timeout)
        else:
            msg = probe_cql(args.addr, args.timeout, args.execute, args.tls, login, client)
    except (ProbeError, OSError, struct.error) as e:
        what = "failed" if args.execute else "not serving"
        print(f"{args.service} at {args.addr} {what}: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
