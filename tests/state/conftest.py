"""The kv backends every state test runs against: the embedded LMDB store
(in the test's own data directory) and a real Redis server started for the
session on a free loopback port (each test its own key prefix). Where
redis-server is missing the Redis half is skipped LOUDLY."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from edgehost.state import open_store
from edgehost.state.localredis import INSTALL_HINT, LocalRedis, redis_server_path

_prefixes = itertools.count()


@dataclasses.dataclass
class Backend:
    """One store configuration: ``spec`` for --kv, ``data`` for --data."""

    name: str
    spec: str
    data: str | None = None
    server: LocalRedis | None = None

    def open(self):
        return open_store(self.spec, self.data)

    def cli(self) -> list[str]:
        return ["--kv", self.spec] + (["--data", self.data] if self.data else [])


@pytest.fixture(autouse=True)
def _default_is_the_embedded_store(monkeypatch):
    """Here the default store is the real default (LMDB in this test's data
    directory), not the in-process map the rest of the suite uses."""
    monkeypatch.delenv("EDGEHOST_KV", raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if redis_server_path() is None:
        pytest.skip(f"REDIS-SERVER MISSING -- the Redis backend is NOT TESTED: {INSTALL_HINT}")
    server = LocalRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def _backend(name: str, request, tmp_path) -> Backend:
    if name == "lmdb":
        return Backend("lmdb", "lmdb", str(tmp_path / "data"))
    if name == "memory":
        return Backend("memory", "memory")
    server = request.getfixturevalue("redis_server")
    return Backend("redis", f"{server.url}?prefix=t{next(_prefixes)}", server=server)


@pytest.fixture(params=["lmdb", "redis"])
def backend(request, tmp_path) -> Backend:
    """A store shared by processes: each test runs once per backend."""
    return _backend(request.param, request, tmp_path)


@pytest.fixture(params=["lmdb", "redis", "memory"])
def any_backend(request, tmp_path) -> Backend:
    """Every backend, for what one process can check."""
    return _backend(request.param, request, tmp_path)


@pytest.fixture
def store(any_backend):
    with any_backend.open() as s:
        yield s
