import pathlib

import pytest

from edgehost.errors import ConfigError
from edgehost.wasm_config import manifest

P = pathlib.Path("/t/edgehost.toml")


def test_defaults_and_paths():
    m = manifest.from_dict({"name": "a-b", "sources": ["x.c"]}, P)
    assert m.wasm == pathlib.Path("/t/a-b.wasm")
    assert m.sources == [pathlib.Path("/t/x.c")]
    assert m.limits["deadline_ms"] == 1000 and m.instance == "reuse"


@pytest.mark.parametrize("data, field", [
    ({}, "name"),
    ({"name": "Bad Name"}, "name"),
    ({"name": "a", "language": "go"}, "language"),
    ({"name": "a", "kernels": ["nope"]}, "kernels"),
    ({"name": "a", "isolation": "vm"}, "isolation"),
    ({"name": "a", "limits": {"deadline_ms": 0}}, "limits.deadline_ms"),
    ({"name": "a", "limits": {"memory_mb": "64"}}, "limits.memory_mb"),
    ({"name": "a", "limits": {"bogus": 1}}, "limits.bogus"),
    ({"name": "a", "routes": {"x": "h"}}, "routes.x"),
    ({"name": "a", "routes": {"/x": "not valid"}}, "routes./x"),
    ({"name": "a", "wasm": "x.bin"}, "wasm"),
    ({"name": "a", "extra": 1}, "extra"),
])
def test_errors_name_the_field(data, field):
    with pytest.raises(ConfigError) as ei:
        manifest.from_dict(data, P)
    assert ei.value.field == field
    assert field in str(ei.value)


def test_load_reports_toml_errors(tmp_path):
    (tmp_path / "edgehost.toml").write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        manifest.load(tmp_path)


def test_missing_manifest(tmp_path):
    with pytest.raises(ConfigError, match="no edgehost.toml"):
        manifest.load(tmp_path)
