"""How tests/migrations/*_7911a06.*.sql were made: the DDL `create_all` ran for release 7911a06's models.

Run over that commit's tree, with the app virtualenv's packages and without the editable install:
    git archive 7911a06 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old:.venv/lib/python3.11/site-packages .venv/bin/python -S tests/migrations/old_schema.py \
        hub_ postgresql > tests/migrations/hub_7911a06.postgresql.sql      # likewise citybot_ and sqlite
"""
import sys
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel
import actions.store, bot.buttons, bot.outbox, bot.staff.access, citybot.subscriptions, hotline.state, hub.models  # noqa: E401,F401
prefix, dialect = sys.argv[1], {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}[sys.argv[2]]
out = []
for t in SQLModel.metadata.sorted_tables:
    if not t.name.startswith(prefix):
        continue
    out.append(str(CreateTable(t).compile(dialect=dialect)).strip())
    for i in sorted(t.indexes, key=lambda i: i.name):
        out.append(str(CreateIndex(i).compile(dialect=dialect)).strip())
print(f"-- The {prefix.rstrip('_')} tables as release 7911a06 created them (SQLModel create_all, {sys.argv[2]}).")
print("-- Generated from that commit's models by the SQLAlchemy DDL compiler create_all uses; do not edit.\n")
print(";\n\n".join(out) + ";")
