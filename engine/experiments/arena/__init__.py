"""The arena: blind battles between the models of a pool, and a leaderboard of
Bradley-Terry ratings with bootstrap intervals beside KLD, speed and memory."""
