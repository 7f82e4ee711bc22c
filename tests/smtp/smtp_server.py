#!/usr/bin/python3
"""A real SMTP server for the alert email test: aiosmtpd (Debian's python3-aiosmtpd) on loopback,
with STARTTLS required before anything else, AUTH (PLAIN, LOGIN) required after it, and one
account. Each message it accepts is written to OUT_DIR as <n>.eml with its envelope in <n>.json.
It prints "port N" once it listens, and runs until its standard input closes.

    smtp_server.py CERT KEY OUT_DIR USER PASSWORD [--reject-rcpt ADDRESS]
"""
import json
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, out_dir, reject):
        self.out_dir = out_dir
        self.reject = reject
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.reject:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.out_dir, str(self.count))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None,
                       "authenticated": session.authenticated}, f)
        return "250 2.0.0 queued as %d" % self.count


def main():
    cert, key, out_dir, user, password = sys.argv[1:6]
    reject = sys.argv[7] if len(sys.argv) > 7 and sys.argv[6] == "--reject-rcpt" else None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    # aiosmtpd's controller connects to its own port to see it listen: it needs the number up front
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Recorder(out_dir, reject), hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_require_tls=True, authenticator=authenticate,
                            auth_exclude_mechanism=["CRAM-MD5"])
    controller.start()
    print("port %d" % port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
