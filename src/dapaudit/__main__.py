"""The `dapaudit` command and `python -m dapaudit`.

The command line is imported here, inside main(): a Ctrl-C while it loads (DuckDB's import
alone takes a tenth of a second) then ends the process as a Ctrl-C during a command does, by
the signal and without a traceback."""

import os
import signal
import sys


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("Aborted!\n")  # as click says it
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        sys.exit(128 + signal.SIGINT)  # where the signal is not delivered at once
    run()


if __name__ == "__main__":
    main()
