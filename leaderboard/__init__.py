"""Ratings and analysis over the arena's votes: pure functions, no UI, no database, no torch."""
