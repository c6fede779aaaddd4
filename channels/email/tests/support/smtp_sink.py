"""aiosmtpd handler for Baylanys tests: stores every accepted message as a file.

Run: PYTHONPATH=<this dir> python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Handler OUTDIR
Recipients whose local part starts with "temp" get 451 (try later), with "reject"
550 (never) -- so clients can test how they classify failures.
"""
import os
import time


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        os.makedirs(outdir, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        # aiosmtpd passes the CLASSARGS only through this hook.
        if len(args) != 1:
            parser.error("smtp_sink.Handler needs one argument: the output directory")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("temp"):
            return "451 4.3.0 Mailbox temporarily unavailable, try later"
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s.eml" % (time.time_ns(), os.getpid())
        tmp = os.path.join(self.outdir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        # Rename so a reader never sees half a message.
        os.rename(tmp, os.path.join(self.outdir, name))
        return "250 2.0.0 Ok: queued as %s" % name[:-4]
