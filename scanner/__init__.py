"""mailprobe: is plaintext login on POP3/IMAP really refused, and what certificate do clients meet?"""

__version__ = "0.1.0"
