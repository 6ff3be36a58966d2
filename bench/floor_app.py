"""The bare floor `bench/bench_api.py` compares the API with: Flask under the same gunicorn
settings, one POST that inserts its 40-field JSON body as one row (SQLite in WAL mode, or
PostgreSQL) and answers 201 — what any submit costs at least on this machine.

    FLOOR_DATABASE_URL=sqlite:////tmp/floor.db gunicorn -w 2 --threads 8 'bench.floor_app:app'
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert
from sqlalchemy.exc import DBAPIError

from chedaitong.db import make_engine

engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
metadata = MetaData()
rows = Table("floor_rows", metadata, Column("id", Integer, primary_key=True),
             Column("body", JSON, nullable=False))
try:
    metadata.create_all(engine)
except DBAPIError:  # PostgreSQL: the other gunicorn worker created it at the same moment
    metadata.create_all(engine)
app = Flask(__name__)


@app.post("/floor")
def floor():
    body = request.get_json()
    with engine.begin() as conn:
        new_id = conn.execute(insert(rows).values(body=body)).inserted_primary_key[0]
    return jsonify({"id": new_id}), 201


@app.get("/floor")
def floor_read():
    return jsonify({"ok": True})
