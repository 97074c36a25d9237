import pytest

from credentials.usage import usage_buffer_clear
from tests.sftpd.helpers import SleepRecorder, start_server


@pytest.fixture(autouse=True)
def _empty_usage_buffer():
    """Uses a process keeps in memory between writes start from nothing in each test."""
    usage_buffer_clear()
    yield
    usage_buffer_clear()


@pytest.fixture
def sftp_root(tmp_path, settings):
    settings.KEYTURN_SFTP_ROOT = tmp_path / "sftp"
    return settings.KEYTURN_SFTP_ROOT


@pytest.fixture
def sftp_server(transactional_db, sftp_root):
    server = start_server(SleepRecorder())
    yield server
    server.stop()
