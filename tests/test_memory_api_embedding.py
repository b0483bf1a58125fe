"""The embedding-API path: memory on a provider's embedding model, here a loopback server."""

from __future__ import annotations

import dataclasses

from support.openai_server import ChatServer

from agent_scientist.memory import open_memory
from agent_scientist.workspace import Workspace


def test_memory_on_an_embedding_api(home, settings):
    ws = Workspace.create(home, "w")
    with ChatServer() as server:
        s = dataclasses.replace(settings, embedding_model="openai/test-embedding", api_base=server.url)
        store = open_memory(ws, s)
        store.add_notes([
            {"text": "Dropout improves calibration on CIFAR-10.", "kind": "finding", "source": "arXiv:1"},
            {"text": "Batch size barely changes throughput on TPUs.", "kind": "finding", "source": "arXiv:2"},
        ])
        hits = store.recall("does dropout improve calibration", k=2)
        dimension = len(store.embed(["x"])[0])
        embedding_calls = [r for r in server.requests if "input" in r]
    assert hits[0]["source"] == "arXiv:1" and hits[0]["score"] > hits[1]["score"]
    assert embedding_calls and all(r["model"] == "test-embedding" for r in embedding_calls)
    assert dimension == 64  # the provider's vectors, not the bundled model's 384
