"""One tab each: Duel, Inspect, Chat, Sessions, Quant, Bench."""
