#!/usr/bin/env python3
"""Scrapes a Leasehold admin endpoint's /metrics over its Unix socket on one kept-alive HTTP connection, as
Prometheus does over TCP (it reuses its connection to a target between scrapes).

  scrape.py SOCKET [--count N] [--every SECONDS] [--out FILE]

--count N: N scrapes back to back, then exit (a warm-up of the scrape path); without it, one scrape every --every
seconds (default 5) until killed. --out: each scrape's body is written there (replaced whole). A scrape that fails
(the server is starting or stopping) is retried on a new connection at the next one.
"""
import argparse
import http.client
import os
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("leasehold", timeout=30)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def scrape(conn):
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise OSError(f"/metrics answered {response.status}")
    return body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("--count", type=int)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--out")
    args = parser.parse_args()
    conn = UnixConnection(args.socket)
    done = 0
    while args.count is None or done < args.count:
        if args.count is None:
            time.sleep(args.every)
        try:
            body = scrape(conn)
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            if args.count is not None:
                print(f"scrape.py: {error}", file=sys.stderr)
                return 1
            continue
        done += 1
        if args.out:
            with open(args.out + ".tmp", "wb") as f:
                f.write(body)
            os.replace(args.out + ".tmp", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
