"""Every dataset test runs with its own HOME, no NPCONV_* settings, a private system root, and
downloads pointed at a closed local port: no test reads the user's cache or uses the network."""

from __future__ import annotations

import pytest

from npconv.datasets import lookup

from .helpers import closed_port_url


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    env = tmp_path_factory.mktemp("env")
    for var in ("NPCONV_DATA", "NPCONV_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    home = env / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NPCONV_MIRROR", closed_port_url())
    system = env / "system"
    monkeypatch.setattr(lookup, "SYSTEM_ROOTS", [system])
    return {"home": home, "cache": home / ".cache" / "npconv", "system": system}
