"""How work is run: single images, videos in-process, and (later) on Ray. No model math here."""
