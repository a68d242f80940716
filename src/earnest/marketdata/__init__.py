"""marketdata stage."""
