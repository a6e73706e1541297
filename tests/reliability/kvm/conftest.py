"""The one KVM gate (tests/kvm/conftest.py's autouse fixture) and its guest
factory, reused for the guest fault tests here: skipped LOUDLY where
/dev/kvm is absent."""

from tests.kvm.conftest import _require_kvm, make_guest  # noqa: F401  (fixtures)
