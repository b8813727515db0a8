"""Keep credentials out of websockets' debug log.

At DEBUG, websockets logs every handshake header and every frame: the Basic-auth header and a
SetVariables(BasicAuthPassword) frame would put station passwords in the log (A01.FR.08/09
forbid it). Both ends of the connection (listener and simulator) log through such a logger.
"""

from __future__ import annotations

import logging

from websockets.frames import Frame


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.levelno > logging.DEBUG or not isinstance(args, tuple) or not args:
            return True
        if len(args) == 2 and str(args[0]).lower() in ("authorization", "proxy-authorization"):
            record.args = (args[0], "[redacted]")
        elif isinstance(args[0], Frame):
            record.args = (f"{args[0].opcode.name} frame, {len(args[0].data)} bytes", *args[1:])
        return True


def redacting_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
    return logger
