"""``agent serve``: the agent in a browser over WebRTC, one session per connection.

``run`` checks where it may listen and starts the HTTP server (``server``: the page, signalling
and the operator API); each offer becomes a ``peer.PeerSession``, whose tracks are the session's
devices: ``inputs`` (the peer's microphone and camera), ``audio_out`` (the agent's voice, the
session's master clock) and ``video`` (its face); ``relay`` sends the words and emotions on the
data channel; ``models`` shares the heavy models between sessions; ``ice`` keeps a loopback
server's media on loopback.
"""
