"""An irctest controller for parley (https://github.com/progval/irctest).

Copy this file into irctest's irctest/controllers/ directory, put a
`parley` binary on PATH (go build -o parley ./cmd/parley) or name it in
PARLEY_BIN, and run, for example:

    pytest --controller irctest.controllers.parley -k 'not Ergo and not deprecated and not strict'

Each test gets a fresh process with its history in memory. Parley is run
the way irctest expects an IRC server to be: no automatic #lobby
(--irc-no-lobby), no burst penalty (--irc-line-rate 0), no per-client
message rate, the server name My.Little.Server and the description
"test server". Parley has no accounts, services or operators yet, so the
tests that need them are skipped or fail (see docs/irc.md).
"""

import os
import shutil
import subprocess
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController


class ParleyController(BaseServerController, DirectoryBasedController):
    software_name = "parley"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str] = None,
        **kwargs,
    ) -> None:
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        binary = os.environ.get("PARLEY_BIN") or shutil.which("parley") or "parley"
        args = [
            binary,
            "serve",
            "--irc-listen", f"{hostname}:{port}",
            "--frame-listen", "off",
            "--line-listen", "off",
            "--name-dialect-listen", "off",
            "--welcome-dialect-listen", "off",
            "--http-listen", "off",
            "--store", "memory",
            "--name", "My.Little.Server",
            "--irc-description", "test server",
            "--irc-no-lobby",
            "--irc-line-rate", "0",
            "--msg-rate", "0",
            "--max-clients-per-ip", "-1",
            "--log-level", "warn",
        ]
        if password is not None:
            args += ["--password", password]
        if ssl:
            self.gen_ssl()
            args += ["--tls-cert", str(self.pem_path), "--tls-key", str(self.key_path)]
        self.proc = subprocess.Popen(args)

    def wait_for_services(self) -> None:
        # No services: nothing to wait for.
        pass


def get_irctest_controller_class() -> Type[ParleyController]:
    return ParleyController
