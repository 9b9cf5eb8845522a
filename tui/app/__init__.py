"""The Textual app by role: app.py (the app, its keys and the one handler for worker errors), bridge.py (the one road from engine events to the views), tabs/, modals/, widgets/."""
