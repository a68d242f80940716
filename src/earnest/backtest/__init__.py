"""Backtest and risk with Indian market realism (issue 7)."""
