"""The monthly record: availability and communication, built purely (``record``) from the
history the store loads (``monthly``)."""
