"""MongoDB in the archive: every collection of the event-store database, as raw BSON in _id order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from ops.backup.errors import ArchiveMismatch, RestoreRefused


def _raw(db: Any, name: str) -> Any:
    return db.get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))


def _collections(db: Any) -> list[str]:
    return sorted(name for name in db.list_collection_names() if not name.startswith("system."))


def collection_digest(db: Any, name: str) -> tuple[int, str]:
    """Documents and the SHA-256 of their raw BSON in ``_id`` order."""
    digest = hashlib.sha256()
    count = 0
    for doc in _raw(db, name).find(sort=[("_id", pymongo.ASCENDING)]):
        digest.update(doc.raw)
        count += 1
    return count, digest.hexdigest()


def dump_mongo(uri: str, out: Path) -> dict[str, Any]:
    out.mkdir()
    collections: dict[str, Any] = {}
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db: Any = client.get_default_database("monitoring")
        for name in _collections(db):
            digest = hashlib.sha256()
            count = 0
            with (out / f"{name}.bson").open("wb") as f:
                for doc in _raw(db, name).find(sort=[("_id", pymongo.ASCENDING)]):
                    f.write(doc.raw)  # BSON documents carry their own length: the file is a stream
                    digest.update(doc.raw)
                    count += 1
            collections[name] = {"documents": count, "digest": digest.hexdigest()}
        return {"database": db.name, "collections": collections}


def _bson_documents(path: Path) -> Iterator[RawBSONDocument]:
    with path.open("rb") as f:
        while head := f.read(4):
            size = int.from_bytes(head, "little")
            yield RawBSONDocument(head + f.read(size - 4))


def restore_mongo(uri: str, section: dict[str, Any], members: Path, *, force: bool, retention: float) -> None:
    from monitoring.eventstore.mongo import COLLECTION, MongoEventStore

    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db: Any = client.get_default_database("monitoring")
        occupied = [name for name in _collections(db) if db[name].estimated_document_count() > 0]
        if occupied and not force:
            raise RestoreRefused(
                f"MongoDB database {db.name} already holds documents in {', '.join(occupied)}; "
                "restore with --force to replace them"
            )
        collections: dict[str, Any] = section["collections"]
        for name in collections:
            db.drop_collection(name)
            batch: list[RawBSONDocument] = []
            for doc in _bson_documents(members / f"{name}.bson"):
                batch.append(doc)
                if len(batch) == 1000:
                    _raw(db, name).insert_many(batch, ordered=True)
                    batch = []
            if batch:
                _raw(db, name).insert_many(batch, ordered=True)
        if COLLECTION in collections:
            MongoEventStore(db, retention).prepare()  # the event store's indexes and retention
        for name, expected in collections.items():
            got = collection_digest(db, name)
            if got != (expected["documents"], expected["digest"]):
                raise ArchiveMismatch(f"collection {name}: restored {got[0]} documents with a different digest")
