"""A rejected version is one rejection, however many times the watcher
reports its files."""

from edgehost.reload import status
from edgehost.reload.status import TenantStatus


def test_the_same_rejection_reported_twice_counts_once():
    st = TenantStatus("t", "/d")
    assert st.failed("/d/t.wasm", "bad", "v2") is True
    assert st.failed("/d/t.wasm", "bad", "v2") is False      # the second report of one write
    assert st.rejected == 1
    assert st.failed("/d/t.wasm", "bad", "v3") is True        # another version
    assert st.failed("/d/edgehost.toml", "bad", "v3") is True  # another file
    assert st.rejected == 3


def test_the_same_files_judged_again_later_are_a_new_rejection():
    st = TenantStatus("t", "/d")
    assert st.failed("/d/t.wasm", "bad", "v2")
    st._failed_at -= status.REPEAT_S + 1   # as if written again REPEAT_S later
    assert st.failed("/d/t.wasm", "bad", "v2") is True
    assert st.rejected == 2 and "_failed_at" not in st.as_dict()
