"""Targets into endpoints: the syntax, address interval sets, the lazy plan, DNS and the SYN front end."""
