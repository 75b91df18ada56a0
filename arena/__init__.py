"""The arena: battles, votes, judge, storage and UI."""
