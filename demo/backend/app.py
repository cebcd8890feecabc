"""The shop's backend API (Flask): products, orders, health.

It reaches PostgreSQL at DATABASE_HOST:DATABASE_PORT (the database task's private
IP, which `openecs demo` looks up with DescribeTasks and passes in the task
definition's environment). Each worker thread keeps one connection and
reconnects when it breaks, so a replaced database task costs a retry, not a
restart. The schema and the catalogue are created on first use, idempotently.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.request

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)

PRODUCTS = [
    ("Container Crate", "Holds exactly one microservice. Stackable.", 1999, "📦"),
    ("Load Balancer Lamp", "Spreads light evenly across every corner.", 4999, "💡"),
    ("Auto Scaling Mug", "Grows with your coffee demand, 2 to 10 cups.", 1499, "☕"),
    ("Fargate Hoodie", "Serverless warmth: you never see the hanger.", 5999, "🧥"),
    ("Task Definition Notebook", "Write down your containers, revise freely.", 899, "📓"),
    ("Black Friday Rocket", "Handles the spike. Scales back in afterwards.", 9999, "🚀"),
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id SERIAL PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    emoji TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id SERIAL PRIMARY KEY,
    customer TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    served_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    price_cents INTEGER NOT NULL
);
"""

_local = threading.local()
_schema_lock = threading.Lock()
_schema_ready = False


def _task_id() -> str:
    """This task's id from the Task Metadata Endpoint v4, else the hostname."""
    uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if uri:
        try:
            with urllib.request.urlopen(f"{uri}/task", timeout=2) as answer:
                return json.load(answer)["TaskARN"].rsplit("/", 1)[-1][:12]
        except (OSError, ValueError, KeyError):
            pass
    return socket.gethostname()


SERVED_BY = _task_id()


def _connect():
    return psycopg2.connect(
        host=os.environ.get("DATABASE_HOST", "127.0.0.1"),
        port=int(os.environ.get("DATABASE_PORT", "5432")),
        dbname=os.environ.get("DATABASE_NAME", "shop"),
        user=os.environ.get("DATABASE_USER", "shop"),
        password=os.environ.get("DATABASE_PASSWORD", ""),
        connect_timeout=3,
    )


def _ensure_schema(conn) -> None:
    global _schema_ready
    if _schema_ready:
        return
    with _schema_lock, conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(42)")  # one backend task at a time
        cur.execute(SCHEMA)
        cur.executemany(
            "INSERT INTO products (name, description, price_cents, emoji) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
            PRODUCTS,
        )
    _schema_ready = True


def db():
    """This thread's connection, (re)opened when missing or broken."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = _connect()
    _ensure_schema(conn)
    return conn


def _run(work):
    """Run `work(cursor)` in a transaction; one retry on a fresh connection."""
    for attempt in (1, 2):
        try:
            conn = db()
            with conn, conn.cursor() as cur:
                return work(cur)
        except psycopg2.OperationalError:
            conn = getattr(_local, "conn", None)
            if conn is not None:
                conn.close()
            _local.conn = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@app.errorhandler(psycopg2.OperationalError)
def _database_down(error):
    return jsonify(error=f"database unavailable: {error}".strip()), 503


@app.get("/api/health")
def health():
    # Shallow on purpose: a backend task is healthy when it serves; replacing it
    # would not bring a missing database back.
    return jsonify(status="ok", served_by=SERVED_BY)


@app.get("/api/products")
def products():
    def work(cur):
        cur.execute("SELECT id, name, description, price_cents, emoji FROM products ORDER BY id")
        return cur.fetchall()

    rows = _run(work)
    keys = ("id", "name", "description", "price_cents", "emoji")
    return jsonify(products=[dict(zip(keys, row)) for row in rows], served_by=SERVED_BY)


@app.get("/api/orders")
def orders():
    def work(cur):
        cur.execute(
            "SELECT o.id, o.customer, o.total_cents, o.served_by, "
            "COALESCE(string_agg(i.quantity || ' × ' || p.name, ', ' ORDER BY p.id), '') "
            "FROM orders o LEFT JOIN order_items i ON i.order_id = o.id "
            "LEFT JOIN products p ON p.id = i.product_id "
            "GROUP BY o.id ORDER BY o.id DESC LIMIT 20"
        )
        return cur.fetchall()

    keys = ("id", "customer", "total_cents", "served_by", "items")
    return jsonify(orders=[dict(zip(keys, row)) for row in _run(work)])


@app.post("/api/orders")
def place_order():
    body = request.get_json(silent=True) or {}
    customer = str(body.get("customer") or "guest")[:100]
    try:
        items = [(int(i["product_id"]), int(i["quantity"])) for i in body.get("items") or []]
    except (KeyError, TypeError, ValueError):
        return jsonify(error="items must be a list of {product_id, quantity}"), 400
    if not items or any(q < 1 or q > 100 for _, q in items):
        return jsonify(error="an order needs items with quantities between 1 and 100"), 400

    def work(cur):
        ids = sorted({pid for pid, _ in items})
        cur.execute("SELECT id, price_cents FROM products WHERE id = ANY(%s)", (ids,))
        prices = dict(cur.fetchall())
        missing = [pid for pid in ids if pid not in prices]
        if missing:
            return None, missing
        total = sum(prices[pid] * q for pid, q in items)
        cur.execute(
            "INSERT INTO orders (customer, total_cents, served_by) VALUES (%s, %s, %s) "
            "RETURNING id",
            (customer, total, SERVED_BY),
        )
        order_id = cur.fetchone()[0]
        cur.executemany(
            "INSERT INTO order_items (order_id, product_id, quantity, price_cents) "
            "VALUES (%s, %s, %s, %s)",
            [(order_id, pid, q, prices[pid]) for pid, q in items],
        )
        return {"id": order_id, "total_cents": total, "served_by": SERVED_BY}, []

    order, missing = _run(work)
    if missing:
        return jsonify(error=f"unknown products: {missing}"), 400
    return jsonify(order), 201
