#!/usr/bin/env python3
"""Small peers for the relay and proxy tests. Each prints its port (or "ready") on the first line
of stdout, then serves until killed. Loopback only.

  sink OUT                 accept one TCP client, write everything it sends to OUT, then exit
  unix-sink PATH OUT       the same on a Unix socket
  echo                     TCP echo, many clients (a thread each), echo until EOF, then close
  unix-echo PATH           the same on a Unix socket
  count                    read until EOF, then answer "got N" and close (half-close check)
  hold                     read until EOF, then keep the connection open (30 s)
  head N                   record the first N bytes of each client to stdout as hex, one line each
  udp-echo                 UDP echo
  socks5 [USER PASS]       a SOCKS5 proxy (CONNECT; no auth, or user/password)
  socks4                   a SOCKS4/4a proxy
  http [USER PASS]         an HTTP CONNECT proxy
"""
import base64, os, socket, struct, sys, threading


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def splice_both(c, u):
    t = threading.Thread(target=pipe, args=(u, c), daemon=True)
    t.start()
    pipe(c, u)
    t.join()
    c.close()
    u.close()


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise OSError("eof")
        b += d
    return b


def serve(listener, handler):
    while True:
        c, _ = listener.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def tcp_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(512)
    out(str(s.getsockname()[1]))
    return s


def unix_listener(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(512)
    out("ready")
    return s


def sink(listener, path):
    c, _ = listener.accept()
    with open(path, "wb") as f:
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            f.write(d)
    c.close()


def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()


def count(c):
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    c.sendall(b"got %d\n" % n)
    c.close()


def hold(c):
    while c.recv(65536):
        pass
    import time
    time.sleep(30)
    c.close()


def head(n):
    def h(c):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                break
            b += d
        out(b.hex())
        c.close()
    return h


def socks5(auth):
    def h(c):
        try:
            ver, nm = recv_exact(c, 2)
            methods = recv_exact(c, nm)
            if auth:
                if 2 not in methods:
                    c.sendall(b"\x05\xff")
                    return c.close()
                c.sendall(b"\x05\x02")
                recv_exact(c, 1)
                user = recv_exact(c, recv_exact(c, 1)[0])
                pw = recv_exact(c, recv_exact(c, 1)[0])
                if (user.decode(), pw.decode()) != auth:
                    c.sendall(b"\x01\x01")
                    return c.close()
                c.sendall(b"\x01\x00")
            else:
                c.sendall(b"\x05\x00")
            ver, cmd, _, atyp = recv_exact(c, 4)
            if atyp == 1:
                host = socket.inet_ntoa(recv_exact(c, 4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, recv_exact(c, 16))
            else:
                host = recv_exact(c, recv_exact(c, 1)[0]).decode()
            port = struct.unpack("!H", recv_exact(c, 2))[0]
            try:
                u = socket.create_connection((host, port))
            except OSError:
                c.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
                return c.close()
            c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
            splice_both(c, u)
        except OSError:
            c.close()
    return h


def socks4(c):
    try:
        vn, cd, port = struct.unpack("!BBH", recv_exact(c, 4))
        ip = recv_exact(c, 4)
        while recv_exact(c, 1) != b"\x00":
            pass
        host = socket.inet_ntoa(ip)
        if ip[:3] == b"\x00\x00\x00":
            name = b""
            while True:
                ch = recv_exact(c, 1)
                if ch == b"\x00":
                    break
                name += ch
            host = name.decode()
        try:
            u = socket.create_connection((host, port))
        except OSError:
            c.sendall(b"\x00\x5b" + b"\x00" * 6)
            return c.close()
        c.sendall(b"\x00\x5a" + b"\x00" * 6)
        splice_both(c, u)
    except OSError:
        c.close()


def http(auth):
    def h(c):
        try:
            req = b""
            while not req.endswith(b"\r\n\r\n"):
                req += recv_exact(c, 1)
            lines = req.decode().split("\r\n")
            method, target, _ = lines[0].split(" ")
            if auth:
                want = "Proxy-Authorization: Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
                if want not in lines:
                    c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                    return c.close()
            host, port = target.rsplit(":", 1)
            try:
                u = socket.create_connection((host.strip("[]"), int(port)))
            except OSError:
                c.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                return c.close()
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            splice_both(c, u)
        except OSError:
            c.close()
    return h


def main():
    mode = sys.argv[1]
    args = sys.argv[2:]
    auth = (args[0], args[1]) if len(args) >= 2 and mode in ("socks5", "http") else None
    if mode == "sink":
        sink(tcp_listener(), args[0])
    elif mode == "unix-sink":
        sink(unix_listener(args[0]), args[1])
    elif mode == "echo":
        serve(tcp_listener(), echo)
    elif mode == "unix-echo":
        serve(unix_listener(args[0]), echo)
    elif mode == "count":
        serve(tcp_listener(), count)
    elif mode == "hold":
        serve(tcp_listener(), hold)
    elif mode == "head":
        serve(tcp_listener(), head(int(args[0])))
    elif mode == "udp-echo":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        out(str(s.getsockname()[1]))
        while True:
            d, a = s.recvfrom(65536)
            s.sendto(d, a)
    elif mode == "socks5":
        serve(tcp_listener(), socks5(auth))
    elif mode == "socks4":
        serve(tcp_listener(), socks4)
    elif mode == "http":
        serve(tcp_listener(), http(auth))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
