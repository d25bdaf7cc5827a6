"""Small objects described by their config (regularizers, constraints): rebuilt from it
(``from_config``), equal when their class and config are, shown as ``Class(arg=value)``."""

from __future__ import annotations


class ConfigValue:
    """Base of the config-described objects; a subclass's ``get_config`` returns its
    constructor's arguments (this one: none)."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:  # equal objects hash equal: 2 and 2.0 too (not their reprs)
        return hash((type(self).__name__, _hashable(self.get_config())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _hashable(value):
    """``value`` with its lists and dicts made tuples (a config may hold lists, e.g. an
    axis), so that it hashes as ``==`` compares: ``hash(2) == hash(2.0)``."""
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
