"""`python die_with_parent.py PARENT_PID COMMAND...`: exec COMMAND so that it gets SIGTERM if the
launcher dies, even by SIGKILL (Linux PR_SET_PDEATHSIG survives exec).

The launcher used to do this in a `preexec_fn`, but that runs Python in the forked child, including
gRPC's at-fork hooks, which can break the child before it execs. A separate exec step keeps the fork
free of Python code. Run with `python -I`: it imports nothing of the project.
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the launcher died before prctl took effect
        sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
