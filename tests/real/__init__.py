"""Real external servers (Dovecot) started for the tests that need them."""
