"""Twisted's IMAP4 server with STARTTLS (run by tests/pyservers.py with the Twisted venv's python, never imported):
``twisted_imap.py ADDRESS PORT CERT KEY``. No portal: every login fails; the STARTTLS test needs none."""

import sys

from twisted.internet import reactor, ssl
from twisted.internet.protocol import Factory
from twisted.mail import imap4

address, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.DefaultOpenSSLContextFactory(key, cert)


class ImapFactory(Factory):
    def buildProtocol(self, addr):  # noqa: N802 - Twisted's name
        server = imap4.IMAP4Server(contextFactory=context)
        server.factory = self
        return server


reactor.listenTCP(port, ImapFactory(), interface=address)
reactor.run()
