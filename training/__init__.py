"""Training from the arena's votes: preference data, reward model, RLHF and SFT recipes."""
