"""Supervised data for the helpful step: Self-Instruct bootstrapping, role-play dialogues, saved direct-chat
exchanges, and the task and length mix of any set (`python -m training.generate`)."""
