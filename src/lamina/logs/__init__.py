"""CloudWatch Logs over the function logs the node keeps: groups, streams, reads, filters."""
