"""The journal's sync helper, run as a program of its own: ``python -I -S fdatasync_helper.py FD``
(storage/sync_process.py starts it; the standard library only, nothing of the project imported).

Reads requests on stdin, a byte each; for all it read at once, one fdatasync of FD, begun after
they were sent and so covering whatever was written before each; then a byte of answer per
request on stdout: 0, or the errno the fdatasync failed with. Ends when stdin ends (its server
closed it, or died). Interrupts and terminations are its server's to act on: sent to the whole
process group (a terminal's Ctrl-C, a service manager's stop), they would end the helper while
its server still syncs what it answers on the way out.
"""

import os
import signal
import sys


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while asked := os.read(0, 4096):
        try:
            os.fdatasync(fd)
            status = 0
        except OSError as exc:
            status = exc.errno if exc.errno and exc.errno < 256 else 5   # else EIO
        os.write(1, bytes([status]) * len(asked))


if __name__ == "__main__":
    main(int(sys.argv[1]))
