"""Which datasets npconv knows and where each is found: what ``npconv datasets`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import cifar10, fashion_mnist, mnist
from .lookup import DatasetSpec, find_local, how_to_get

#: Keras-style module name -> the module (each has SPEC, CLASS_NAMES and load_data).
DATASETS = {"mnist": mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10}


@dataclass
class DatasetStatus:
    """A dataset, and the folder holding a complete copy (None if none, i.e. it would download)."""

    module: str
    spec: DatasetSpec
    folder: Path | None
    source: str | None  # "NPCONV_DATA", "cache" or "system"
    searched: list[str]

    @property
    def found(self) -> bool:
        return self.folder is not None

    def summary(self) -> str:
        head = f"{self.module:<14} {self.spec.title}: {self.spec.description}"
        if self.found:
            skipped = [f"{'':<15}skipped {s}" for s in self.searched if "incomplete" in s]
            return "\n".join([head, f"{'':<15}found ({self.source}): {self.folder}", *skipped])
        lines = [head, f"{'':<15}not found locally; load_data() downloads it. Searched:"]
        lines += [f"{'':<17}{s}" for s in self.searched]
        lines.append(f"{'':<15}{how_to_get(self.spec)}")
        return "\n".join(lines)


def available() -> list[DatasetStatus]:
    """The status of every dataset, looked up as ``load_data()`` would, without downloading."""
    statuses = []
    for module_name, module in DATASETS.items():
        located, searched = find_local(module.SPEC)
        statuses.append(DatasetStatus(
            module_name, module.SPEC,
            located.folder if located else None,
            located.source if located else None,
            searched,
        ))
    return statuses


def available_report() -> str:
    """:func:`available` as text, one block per dataset."""
    return "\n".join(status.summary() for status in available())
