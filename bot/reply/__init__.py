"""How answers reach users: the ``StreamedReply`` protocol and its progressive implementation."""
