"""Library tests run with 8 simulated CPU devices, set before JAX starts."""
import pytest

import scalebook

scalebook.use_cpu_devices(8)


@pytest.fixture(autouse=True)
def _own_progress_ledger(tmp_path, monkeypatch):
    """Each test records its checks in a ledger of its own (sb.check writes
    one), never in the working directory."""
    monkeypatch.setenv("SCALEBOOK_PROGRESS",
                       str(tmp_path / "scalebook-progress.json"))
