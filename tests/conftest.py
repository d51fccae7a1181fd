"""Fixtures shared by the engine's and the server's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of small nets: a second thread only adds hand-offs (and stalls
    on a shared machine). Used with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
