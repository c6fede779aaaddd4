"""aiosmtpd handler for the outage tests: answers per recipient, keeps what it accepts.

Run: PYTHONPATH=<this dir> python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c outage_smtp.Handler OUTDIR
Local part "flaky*": 451 on the first try, 250 afterwards; "down*": always 451;
"reject*": always 550;
anything else: 250. Each accepted message is a file starting with X-Envelope-To.
"""
import os
import time


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.seen = set()
        os.makedirs(outdir, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("outage_smtp.Handler needs one argument: the output directory")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("down"):
            return "451 4.3.2 System not accepting network messages"
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        if local.startswith("flaky") and address not in self.seen:
            self.seen.add(address)
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s.eml" % (time.time_ns(), os.getpid())
        tmp = os.path.join(self.outdir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.outdir, name))
        return "250 2.0.0 Ok: queued as %s" % name[:-4]
