"""Learning expectations from an event log, and comparing a team's files with it (section 12).

Everything here but `command` is pure: envelopes in, data out. `learner.learn` is the way in.
"""
