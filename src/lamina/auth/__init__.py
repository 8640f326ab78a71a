"""Who may call the node: the access keys it accepts and the SigV4 check of each request."""
