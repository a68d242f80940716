"""Shared foundations: errors, column contracts, the trading calendar and hashing."""
