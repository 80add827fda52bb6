"""The floor for bench/cast.py: bare Flask, one committed SQLite insert per request, with the
same durability as ballot (WAL, synchronous=FULL, BEGIN IMMEDIATE, busy_timeout)."""

import os
import secrets
import sqlite3
import threading

from flask import Flask

app = Flask(__name__)
PATH = os.environ["FLOOR_DB"]
_local = threading.local()


def connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(PATH, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        _local.conn = conn
    return conn


@app.post("/insert")
def insert():
    conn = connection()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (?, ?)", (secrets.token_hex(16), "x"))
    conn.execute("COMMIT")
    return "ok"
