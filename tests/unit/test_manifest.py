"""The manifest: every field validated at load time, every problem one
ConfigError naming the file and the field."""

import datetime
import json
import os
import pathlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("data, field, needle", [
    ({"name": "a", "kernels": [[1]]}, "kernels", "list of kernel names"),
    ({"name": "a", "kernels": [{"x": 1}]}, "kernels", "list of kernel names"),
    ({"name": "a", "kernels": "crc32c"}, "kernels", "list of kernel names"),
    ({"name": "a", "kernels": ["json_validate"]}, "kernels", "did you mean 'json-validate'"),
    ({"name": "a", "config": {"when": datetime.datetime(1979, 5, 27)}}, "config.when",
     "dates and times"),
    ({"name": "a", "config": {"d": [datetime.date(2020, 1, 1)]}}, "config.d[0]", "dates"),
    ({"name": "a", "config": {"big": 1 << 64}}, "config.big", "does not fit in 64 bits"),
    ({"name": "a", "config": {"neg": -(1 << 63) - 1}}, "config.neg", "64 bits"),
    ({"name": "a", "config": {"t": {"u": [[[{"deep": 10 ** 30}]]]}}}, "config.t.u[0][0][0].deep",
     "64 bits"),
    ({"name": "a", "wasm": "/tmp/x.wasm"}, "wasm", "outside the tenant's directory"),
    ({"name": "a", "wasm": "../../x.wasm"}, "wasm", "outside the tenant's directory"),
    ({"name": "a", "wasm": "sub/../../x.wasm"}, "wasm", "outside the tenant's directory"),
])
def test_hostile_values_are_config_errors(data, field, needle):
    with pytest.raises(ConfigError) as ei:
        manifest.from_dict(data, P)
    assert ei.value.field == field and needle in str(ei.value)


def test_config_integers_at_the_edges_of_msgpack_are_accepted():
    m = manifest.from_dict({"name": "a", "config": {"lo": -(1 << 63), "hi": (1 << 64) - 1}}, P)
    assert m.config == {"lo": -(1 << 63), "hi": (1 << 64) - 1}


def test_config_nesting_is_bounded():
    deep = inner = []
    for _ in range(manifest.CONFIG_MAX_DEPTH + 1):
        inner.append([])
        inner = inner[0]
    with pytest.raises(ConfigError, match="nested deeper than"):
        manifest.from_dict({"name": "a", "config": {"x": deep}}, P)


def test_5000_level_array_is_one_config_error(tmp_path):
    (tmp_path / "edgehost.toml").write_text(
        'name = "a"\n[config]\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as ei:
        manifest.load(tmp_path)
    assert "edgehost.toml" in str(ei.value) and "nested" in str(ei.value)


def test_manifest_that_is_a_directory(tmp_path):
    (tmp_path / "edgehost.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        manifest.load(tmp_path)


def test_manifest_that_is_not_utf8(tmp_path):
    (tmp_path / "edgehost.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        manifest.load(tmp_path)


def test_wasm_through_a_link_out_of_the_directory(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "out").symlink_to(tmp_path)
    with pytest.raises(ConfigError, match="outside the tenant's directory"):
        manifest.from_dict({"name": "a", "wasm": "out/x.wasm"}, tmp_path / "t" / "edgehost.toml")
    m = manifest.from_dict({"name": "a", "wasm": "build/x.wasm"}, tmp_path / "t" / "edgehost.toml")
    assert m.wasm == tmp_path / "t" / "build" / "x.wasm"


def test_sources_outside_the_directory_are_listed():
    m = manifest.from_dict({"name": "a", "sources": ["x.c", "../shared/y.c", "/etc/z.c"]}, P)
    assert [s.resolve() for s in m.sources_outside()] == [pathlib.Path("/shared/y.c"),
                                                          pathlib.Path("/etc/z.c")]


# --- any TOML document: a Manifest or a ConfigError, nothing else ---------------------

_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=8)
_scalar = st.one_of(
    st.booleans(), st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=False), st.text(max_size=12),
    st.datetimes(), st.dates(), st.times())
_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_key, inner, max_size=3)), max_leaves=12)
_known = st.sampled_from(sorted(manifest.TOP_LEVEL) + ["kernels", "config", "limits", "x"])


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value).replace("inf", "inf")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(_known, _value, max_size=6))
def test_any_toml_document_is_a_manifest_or_a_config_error(tmp_path_factory, doc):
    d = tmp_path_factory.mktemp("m")
    text = "\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in doc.items())
    (d / "edgehost.toml").write_text(text)
    try:
        m = manifest.load(d)
    except ConfigError as exc:
        assert str(exc).startswith(str(d / "edgehost.toml")), exc
        return
    assert isinstance(m, manifest.Manifest)
    msgpack.packb(m.config)  # what the tenant will be given encodes


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_is_a_manifest_or_a_config_error(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("m")
    (d / "edgehost.toml").write_text(text)
    try:
        manifest.load(d)
    except ConfigError:
        pass


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge"])
def test_manifest_that_is_not_a_small_regular_file(tmp_path, kind):
    target = tmp_path / "edgehost.toml"
    if kind == "fifo":
        os.mkfifo(target)  # reading it would block forever
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")  # reading it would never end
    else:
        target.write_bytes(b"#" * (manifest.MAX_MANIFEST_BYTES + 1))
    with pytest.raises(ConfigError, match="regular file|more than"):
        manifest.load(tmp_path)
