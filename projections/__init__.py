"""Read models built from the log, and the runner that keeps them up to date.

Each projection writes its rows and its tracking position in one transaction, so a crash
never applies an event twice or skips one; dropping the tables and running again from
position 0 rebuilds the same view.
"""
