"""The MongoDB-wire server (FerretDB locally): insert, find, and a unique index that holds."""

from __future__ import annotations

import pymongo
import pytest


def test_insert_find_and_unique_index(
    mongo_client: pymongo.MongoClient[dict[str, object]], mongo_database: str
) -> None:
    events = mongo_client[mongo_database]["events"]
    events.create_index("id", unique=True)
    events.insert_many([{"id": "e1", "type": "AssetCreated"}, {"id": "e2", "type": "TransactionFailed"}])

    found = events.find_one({"type": "TransactionFailed"}, {"_id": 0})
    assert found == {"id": "e2", "type": "TransactionFailed"}

    with pytest.raises(pymongo.errors.DuplicateKeyError):
        events.insert_one({"id": "e1", "type": "AssetModified"})
    assert events.count_documents({}) == 2
