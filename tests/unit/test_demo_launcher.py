"""How `openecs demo` reaches a server: which credentials it uses, and that it only
ever starts one on this machine."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from openecs.demo.launcher import LaunchError, connect, server_answers


@pytest.fixture(autouse=True)
def _no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENECS_ACCESS_KEY_ID",
        "OPENECS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openecs.demo.launcher.server_answers", lambda endpoint: True)


def _write_credentials(data_dir: Path, key: str = "AKIAFILE") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "credentials.json").write_text(
        json.dumps({"accessKeyId": key, "secretAccessKey": "file-secret"})
    )


@pytest.mark.usefixtures("answering")
def test_a_running_server_is_reused_with_the_data_dirs_credentials(tmp_path: Path) -> None:
    _write_credentials(tmp_path)
    connection = connect("http://127.0.0.1:4580", tmp_path)
    assert (connection.access_key, connection.secret_key) == ("AKIAFILE", "file-secret")
    assert connection.started_pid is None
    assert "export AWS_ACCESS_KEY_ID=AKIAFILE" in connection.exports()


@pytest.mark.usefixtures("answering")
def test_the_servers_own_variables_come_first_then_the_file_then_aws_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_credentials(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAWS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    assert connect("http://127.0.0.1:4580", tmp_path).access_key == "AKIAFILE"
    monkeypatch.setenv("OPENECS_ACCESS_KEY_ID", "AKIAOPENECS")
    monkeypatch.setenv("OPENECS_SECRET_ACCESS_KEY", "openecs-secret")
    assert connect("http://127.0.0.1:4580", tmp_path).access_key == "AKIAOPENECS"
    assert connect("http://127.0.0.1:4580", tmp_path / "empty").access_key == "AKIAOPENECS"
    monkeypatch.delenv("OPENECS_ACCESS_KEY_ID")
    assert connect("http://127.0.0.1:4580", tmp_path / "empty").access_key == "AKIAAWS"


@pytest.mark.usefixtures("answering")
def test_no_credentials_anywhere_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="credentials"):
        connect("http://127.0.0.1:4580", tmp_path)


def test_nothing_is_started_for_a_remote_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing answers there (and the test sends nothing off this machine).
    monkeypatch.setattr("openecs.demo.launcher.server_answers", lambda endpoint: False)
    with pytest.raises(LaunchError, match="only on this machine"):
        connect("http://192.0.2.10:4580", tmp_path, timeout=1)
    assert not (tmp_path / "openecs-up.pid").exists()


def test_no_start_means_no_start(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LaunchError, match="no OpenECS server answers"):
        connect(f"http://127.0.0.1:{port}", tmp_path, start=False)
    assert not server_answers(f"http://127.0.0.1:{port}")
