"""The reference peer of the benchmark command (issue 22): sessiond's two hottest endpoints
built the way the system it replaces was built — Flask, Flask-Limiter with in-memory storage,
SQLAlchemy on SQLite in WAL mode (synchronous=FULL, as sessiond), one audit row per call,
served by gunicorn with 2 sync workers. `scripts/bench/run` drives it with the same wrk
scripts and prints sessiond's throughput as a multiple of it.

    python app.py seed DB COUNT UUIDS   # COUNT sessions, the ids of UUIDS among them
    REFERENCE_DB=DB gunicorn -w 2 -b 127.0.0.1:PORT app:app
"""

import datetime
import json
import os
import sys
import uuid

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import Column, DateTime, Integer, String, Text, create_engine, event
from sqlalchemy.orm import declarative_base, sessionmaker

Base = declarative_base()


class UserSession(Base):
    __tablename__ = "user_sessions"
    id = Column(String(36), primary_key=True)
    status = Column(String(16), nullable=False, default="active")
    created_at = Column(DateTime, nullable=False)
    last_seen_at = Column(DateTime, nullable=False)
    last_ip = Column(String(64))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    occurred_at = Column(DateTime, nullable=False, index=True)
    event_type = Column(String(64), nullable=False)
    session_id = Column(String(36), index=True)
    ip = Column(String(64))
    user_agent = Column(Text)
    event_metadata = Column("metadata", Text, nullable=False, default="{}")


def engine_for(path):
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    return engine


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def create_app(path):
    engine = engine_for(path)
    Base.metadata.create_all(engine)
    db = sessionmaker(engine)
    app = Flask(__name__)
    # The original limited every route per client IP in process memory.
    Limiter(get_remote_address, app=app, default_limits=["1000000000 per second"], storage_uri="memory://")

    def audit(s, event_type, session_id, metadata=None):
        s.add(
            AuditEvent(
                occurred_at=now(),
                event_type=event_type,
                session_id=session_id,
                ip=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
                event_metadata=json.dumps(metadata or {}),
            )
        )

    @app.post("/api/session/generate-uuid")
    def generate():
        sid = str(uuid.uuid4())
        t = now()
        with db.begin() as s:
            s.add(UserSession(id=sid, status="active", created_at=t, last_seen_at=t, last_ip=request.remote_addr))
            audit(s, "session.generated", sid)
        return jsonify(uuid=sid), 201

    @app.post("/api/session/validate-uuid")
    def validate():
        body = request.get_json(silent=True) or {}
        raw = body.get("uuid") if isinstance(body, dict) else None
        try:
            sid = str(uuid.UUID(str(raw), version=4))
        except ValueError:
            with db.begin() as s:
                audit(s, "session.validation_failed", None, {"reason": "malformed"})
            return jsonify(error="invalid_uuid"), 400
        with db.begin() as s:
            row = s.get(UserSession, sid)
            valid = row is not None and row.status == "active"
            if valid:
                row.last_seen_at = now()
                row.last_ip = request.remote_addr
            audit(s, "session.validated" if valid else "session.validation_failed", sid)
        if not valid:
            return jsonify(valid=False), 404
        return jsonify(valid=True, uuid=sid), 200

    return app


def seed(path, count, uuids_path):
    engine = engine_for(path)
    Base.metadata.create_all(engine)
    with open(uuids_path, encoding="ascii") as f:
        known = [line.strip() for line in f if len(line.strip()) == 36]
    ids = known + [str(uuid.uuid4()) for _ in range(max(0, count - len(known)))]
    t = now()
    with engine.begin() as conn:
        conn.execute(
            UserSession.__table__.insert(),
            [{"id": i, "status": "active", "created_at": t, "last_seen_at": t, "last_ip": None} for i in ids],
        )
    print(f"seeded {len(ids)} sessions ({len(known)} known ids)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
else:
    app = create_app(os.environ.get("REFERENCE_DB", "reference.db"))
