"""Shared fixtures for the end-to-end tests: where the tavana binary is, and helpers to
run it. The tests drive real clients against the real binary; nothing is mocked."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tavana_bin() -> str:
    path = os.environ.get("TAVANA_BIN")
    if not path:
        path = subprocess.run(
            ["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip() + "/tavana"
    if not os.path.exists(path):
        pytest.fail(f"tavana binary not found at {path}; run `swift build` first")
    return path
