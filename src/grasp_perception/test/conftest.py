"""Shared fixtures: paths to the read-only data beside the repository (skipped when absent)."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"
JACQUARD_SAMPLES = SHARED_DATA / "jacquard_samples"


@pytest.fixture
def jacquard_root() -> Path:
    if not JACQUARD_SAMPLES.is_dir():
        pytest.skip(f"Jacquard samples not found at {JACQUARD_SAMPLES} (a fresh clone has no ../shared)")
    return JACQUARD_SAMPLES
