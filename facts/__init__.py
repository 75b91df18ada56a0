"""Facts about a vote, each decided in one place: the vocabulary of votes, whether a vote counts, the style of
its answers and the category of its prompt.

Pure functions and constants, importing nothing of the project: the store computes these facts when a turn or
a vote is written and stores them; every reader (leaderboard, training, export, audit, scheduler) reads what was
stored. A battles file from elsewhere gets the same functions applied when it is read.
"""
