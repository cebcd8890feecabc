"""Run the real AWS CLI (pip `awscli`) against a test server."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.server import ServerProcess

AWS = str(Path(sys.executable).parent / "aws")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


def run_aws(server: ServerProcess, *args: str) -> CliResult:
    proc = subprocess.run(
        [AWS, *args, "--output", "json"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
