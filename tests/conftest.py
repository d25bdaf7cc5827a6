"""Every test starts with fresh automatic layer names (conv2d, dense, batch_normalization ...),
as a new Keras session does, so that a test reading a printed name does not depend on which
tests ran before it."""

from __future__ import annotations

import pytest

from npconv.utils import clear_session


@pytest.fixture(autouse=True)
def _fresh_layer_names():
    clear_session()
    yield
