#!/usr/bin/python3
"""A stand-in for the ServiceOps application on lab app machines.

It reads its database endpoint and password the way the real application does, from
/opt/flotomate/main-server/config/application-saas.properties, and answers:
  GET /health  200 only while it can write to its database, 503 otherwise
  GET /        a one-line page naming the machine
It sits behind nginx on port 80, like the real application.
Usage: serviceops-standin.py <listen address> <port>
"""
import http.server
import re
import socket
import sys

import psycopg2  # Debian's python3-psycopg2, hence /usr/bin/python3

PROPERTIES = "/opt/flotomate/main-server/config/application-saas.properties"


def read_properties(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def database_settings():
    """Read at every request, so the configuration on disk is what is tested."""
    props = read_properties(PROPERTIES)
    match = re.match(r"jdbc:postgresql://([^:/]+)(?::(\d+))?/([^?]+)", props.get("spring.datasource.url", ""))
    if not match:
        raise ValueError("spring.datasource.url is not a jdbc:postgresql:// URL in " + PROPERTIES)
    host, port, dbname = match.group(1), int(match.group(2) or 5432), match.group(3)
    return dict(host=host, port=port, dbname=dbname,
                user=props.get("spring.datasource.username", ""),
                password=props.get("spring.datasource.password", ""),
                connect_timeout=2)


def write_heartbeat():
    connection = psycopg2.connect(**database_settings())
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS app_heartbeat (host text PRIMARY KEY, at timestamptz NOT NULL)")
            cursor.execute(
                "INSERT INTO app_heartbeat (host, at) VALUES (%s, now()) "
                "ON CONFLICT (host) DO UPDATE SET at = excluded.at",
                (socket.gethostname(),),
            )
    finally:
        connection.close()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == "/health":
            try:
                write_heartbeat()
                self.answer(200, "ok: wrote to the database\n")
            except Exception as error:  # any failure to write is "unhealthy"
                self.answer(503, "unhealthy: %s\n" % str(error).strip().splitlines()[0][:200])
        else:
            self.answer(200, "ServiceOps on %s\n" % socket.gethostname())

    def answer(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    address, port = sys.argv[1], int(sys.argv[2])
    http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()
