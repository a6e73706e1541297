"""Fixtures of the serving tests: the test tenants built once per session."""

from __future__ import annotations

import pytest

from tests.support import build_tenants


@pytest.fixture(scope="session")
def serve_tenants(tmp_path_factory, c_toolchain):
    """probe, abuse and vhost (tests/serving/tenants) plus the hello-c and
    etag-c examples, built, in one folder."""
    return build_tenants(tmp_path_factory.mktemp("serve-tenants"), ["probe", "abuse", "vhost"],
                         ["hello-c", "etag-c"])
