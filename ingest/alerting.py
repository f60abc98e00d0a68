"""The alerting deploy (deploy/alerting/): `gridhouse alerting exporter-config` writes the
prometheus-sql-exporter config with the connection `gridhouse db url --role alerting` prints.

deploy/alerting/sql_exporter.yml is the template and is copied unchanged but for its one connection URL,
written as the exporter's PostgreSQL driver (lib/pq, registered as `postgres`) wants it: scheme
`postgres://` (it takes the driver's name from the scheme, and `postgresql` is not one), and on a loopback
host an explicit `sslmode=disable` where the URL names none (lib/pq's default is `require`, libpq's
`prefer`; the embedded server has no TLS). The file holds the role's password, so it is written mode 0600.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ingest.db import PROJECT_ROOT, Connection
from ingest.errors import GridhouseError

ALERTING_DIR = PROJECT_ROOT / "deploy" / "alerting"
EXPORTER_CONFIG = ALERTING_DIR / "sql_exporter.yml"
# The one connection of the template: a list item holding a postgres:// URL (quoted or not).
CONNECTION = re.compile(
    r"^(?P<lead>[ \t]*-[ \t]*)(?P<url>(['\"]?)postgres(?:ql)?://[^\s'\"]*\3)[ \t]*$", re.MULTILINE
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def exporter_url(conn: Connection) -> str:
    """The libpq URL of `conn` (with its password) as prometheus-sql-exporter's lib/pq reads it."""
    parts = urlsplit(conn.url(show_password=True))
    query = parse_qsl(parts.query)
    netloc, path = parts.netloc, parts.path
    if conn.host.startswith("/"):  # a Unix socket folder: lib/pq takes it as the host parameter
        auth = quote(conn.user, safe="") + (":" + quote(conn.password, safe="") if conn.password else "")
        netloc, path = auth + "@", "/" + quote(conn.dbname, safe="")
        query += [("host", conn.host), ("port", str(conn.port))]
    if not any(key == "sslmode" for key, _ in query) and (conn.host in LOOPBACK or conn.host.startswith("/")):
        query.append(("sslmode", "disable"))
    return urlunsplit(("postgres", netloc, path, urlencode(query, quote_via=quote, safe="/"), ""))


def exporter_config(conn: Connection, template: Path = EXPORTER_CONFIG) -> str:
    """The text of `template` with its connection URL replaced by `conn`'s (a YAML single-quoted string)."""
    text = template.read_text(encoding="utf-8")
    found = list(CONNECTION.finditer(text))
    if len(found) != 1:
        raise GridhouseError(
            f"{template}: expected one postgres:// URL as the job's `connections:` item, found {len(found)}"
        )
    url = "'" + exporter_url(conn).replace("'", "''") + "'"
    return text[: found[0].start("url")] + url + text[found[0].end("url") :]


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only (it holds a password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through os.open
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
