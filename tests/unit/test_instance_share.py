"""A tenant's share of the process's instance slots (limits.instances): the
default, the ceiling, and one ConfigError naming the field for bad values."""

import pathlib

import pytest

from edgehost.errors import ConfigError
from edgehost.runtime import engine
from edgehost.runtime.tenant import MAX_SHARE_FRACTION, SHARE_FRACTION, instance_share
from edgehost.wasm_config import manifest

P = pathlib.Path("/t/edgehost.toml")


def _man(**limits):
    return manifest.from_dict({"name": "share", "limits": limits}, P)


def test_the_default_share_is_a_fraction_of_the_slots():
    assert instance_share(_man(), 1024) == 1024 // SHARE_FRACTION
    assert instance_share(_man(), 4) == 1  # never 0: a tenant can always run one call
    # An engine without a pooling allocator has no slots to share; the
    # default is then what the process's pooled engine would give.
    assert instance_share(_man(), 0) == engine.POOL_INSTANCES // SHARE_FRACTION


def test_an_asked_share_up_to_half_the_slots_is_kept():
    assert instance_share(_man(instances=3), 1024) == 3
    assert instance_share(_man(instances=512), 1024) == 512
    assert instance_share(_man(instances=5000), 0) == 5000  # nothing shared: no ceiling


def test_more_than_half_the_slots_is_a_load_error_naming_the_field():
    with pytest.raises(ConfigError) as ei:
        instance_share(_man(instances=1024 // MAX_SHARE_FRACTION + 1), 1024)
    assert ei.value.field == "limits.instances" and "\n" not in str(ei.value)
    assert "at most 512" in str(ei.value)


@pytest.mark.parametrize("value", [-1, "8", 1.5, True, (1 << 16) + 1])
def test_bad_values_are_refused_by_the_manifest(value):
    with pytest.raises(ConfigError) as ei:
        _man(instances=value)
    assert ei.value.field == "limits.instances" and "\n" not in str(ei.value)
