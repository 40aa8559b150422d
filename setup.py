"""Package discovery for the folder-to-package mapping declared in pyproject.toml.

`streams/`, `connectors/` and `schemas/` live at the top of the repository but install as
`fluentsync.streams`, `fluentsync.connectors` and `fluentsync.schemas`; setuptools' declarative
`packages.find` cannot prefix discovered names, so the list is computed here.
"""

from setuptools import find_packages, setup

SUBPACKAGES = ("streams", "connectors", "schemas")


def _under(folder: str) -> list[str]:
    return [f"fluentsync.{folder}"] + [f"fluentsync.{folder}.{name}" for name in find_packages(folder)]


setup(packages=["fluentsync", *(pkg for folder in SUBPACKAGES for pkg in _under(folder))])
