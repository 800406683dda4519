"""The package list and data mapping (the rest of the metadata is in pyproject.toml).

runtime_c/, targets/ and templates/ stay at the top of the repository (the design card's layout); the wheel carries
them as sdk/_data/<name>, where sdk/resources.py finds them (a source checkout or an editable install finds them next
to the sdk folder)."""
from setuptools import find_packages, setup

DATA = {"runtime_c": ["**/*.c", "**/*.h", "**/*.cu"], "targets": ["*.toml"], "templates": ["**/*"]}

setup(packages=find_packages(include=["sdk", "sdk.*"]) + [f"sdk._data.{d}" for d in DATA],
      package_dir={f"sdk._data.{d}": d for d in DATA},
      package_data={f"sdk._data.{d}": globs for d, globs in DATA.items()})
