"""Log analysis for ``mailprobe logs``: which clients still log in without TLS, and who is already refused.

Parsers (``dovecot``, ``exchange``) turn the few relevant lines of a log into ``LoginEvent``s; ``analyser`` walks
files, detects the format per file and streams them; ``aggregate`` folds events into one row per client address (or
per user); ``output`` renders table/JSON/CSV. Nothing here loads a whole file.
"""
