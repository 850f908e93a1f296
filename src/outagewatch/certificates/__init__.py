"""Certificate warnings for on-call: the pure decision and the engine that stores and mails it."""
