"""llmbench's front ends: the Textual app and its headless CLI twin."""
