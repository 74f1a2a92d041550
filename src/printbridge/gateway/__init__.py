"""The gateway: a small root daemon between the unprivileged web app and CUPS.

It checks passwords with PAM and runs every CUPS operation in a forked child
that has become the signed-in user, so CUPS itself decides what that user may
do (its policy sees the user's own uid through PeerCred on the local socket).
"""
