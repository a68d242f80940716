"""The allocator setting the CLI applies: it takes on glibc and is idempotent."""

from __future__ import annotations

import platform

import pytest

from earnest.core.memory import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_setting_and_a_second_call_is_free() -> None:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # cached: applied once per process
