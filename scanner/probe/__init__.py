"""One endpoint's conversation: the I/O driver, the session, one dialect per protocol, TLS inspection."""
